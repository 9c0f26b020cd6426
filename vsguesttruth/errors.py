"""The one error hierarchy users see. Every message is one line that says what to do."""


class VsgtError(Exception):
    """Base of every expected error; the CLI prints its message and exits non-zero."""


class ConfigError(VsgtError):
    """A config file or option value is wrong."""
