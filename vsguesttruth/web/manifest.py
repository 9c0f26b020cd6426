"""Where the vSphere Client plugin's manifest is: ``plugin.json``, its icons (``images/``) and i18n strings.

The repository keeps one copy, at its top (``plugin-manifest/``, what an admin reads). The wheel carries
it as ``vsguesttruth/web/plugin/`` (setup.py's build step copies ``plugin-manifest/`` there); a checkout,
or an editable install, reads ``plugin-manifest/`` itself. ``$VSGT_PLUGIN_MANIFEST_DIR`` points at another one.
"""

from __future__ import annotations

import os
from pathlib import Path


def manifest_dir() -> Path:
    env = os.environ.get("VSGT_PLUGIN_MANIFEST_DIR")
    if env:
        return Path(env)
    installed = Path(__file__).resolve().parent / "plugin"
    if (installed / "plugin.json").is_file():
        return installed
    return Path(__file__).resolve().parents[2] / "plugin-manifest"
