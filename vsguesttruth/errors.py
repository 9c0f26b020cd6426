"""The one error hierarchy users see. Every message is one line that says what to do.

The CLI catches :class:`VsgtError` and prints ``str(error)``, never a traceback. Messages never carry
a password. The vCenter edge adds its own subclasses (``vsguesttruth.vcenter.errors``).
"""

from __future__ import annotations


class VsgtError(Exception):
    """Base of every error vsguesttruth reports to a person."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever the cause said

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(VsgtError):
    """A config file, option or setting is wrong or incomplete."""
