"""Errors of the vCenter edge: subclasses of :class:`vsguesttruth.errors.VsgtError`, one line each.

The CLI catches :class:`VsgtError` and prints ``str(error)``: each message says what went wrong and
what to do about it, on one line, without a traceback. Messages name the vCenter by its URL without
credentials; nothing here ever sees the password.
"""

from __future__ import annotations

from ..errors import ConfigError, VsgtError

__all__ = [
    "VsgtError", "ConfigError", "ConnectError", "AuthError", "CertificateError", "SessionExpired",
    "NotFound", "TaskFailed", "ApiError",
]


class ConnectError(VsgtError):
    """vCenter could not be reached (refused, timed out, reset, not a vSphere endpoint)."""


class AuthError(VsgtError):
    """vCenter rejected the user name or password."""


class CertificateError(VsgtError):
    """The server's TLS certificate is not trusted, or does not match the pinned thumbprint."""

    def __init__(self, message: str, *, seen_thumbprint: str = "") -> None:
        super().__init__(message)
        self.seen_thumbprint = seen_thumbprint


class SessionExpired(VsgtError):
    """The vCenter session ended (logged out, terminated, timed out) and could not be renewed."""


class NotFound(VsgtError):
    """A named object (host, VM, datastore...) does not exist in vCenter."""


class TaskFailed(VsgtError):
    """A vCenter task ended in error."""


class ApiError(VsgtError):
    """vCenter answered a call with a fault we did not expect."""
