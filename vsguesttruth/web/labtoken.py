"""The lab's one-off write token for the plugin pages, kept where only its owner can read it.

With ``--lab`` and no API tokens file, ``serve`` and ``web`` make a write token so the demo's pages can act.
It never goes to stdout or a log (both end up in files others may read): the page URL with the token in its
fragment is written to ``web-ui-url`` in the lab's directory, mode 0600, and the commands say where.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE = "web-ui-url"


class LabToken:
    """``tokens`` for :func:`~vsguesttruth.web.make_auth`; :meth:`save` writes the page URL with the token."""

    def __init__(self) -> None:
        self._token = secrets.token_urlsafe(24)
        self.tokens = {self._token: ("lab", "write")}

    def save(self, directory: str | Path, page_url: str) -> Path:
        """Write ``page_url#token=...`` to ``directory/web-ui-url`` (0600); return the file's path."""
        path = Path(directory) / FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older file of wider mode is narrowed too
            os.write(fd, f"{page_url}#token={self._token}\n".encode())
        finally:
            os.close(fd)
        return path


def note(path: Path) -> str:
    """What the commands print instead of the token."""
    return f"(with the lab's write token: open the URL in {path}, readable by you only)"
