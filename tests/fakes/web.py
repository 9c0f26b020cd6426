"""The plugin server's callers: API tokens (read, write) and their headers, and a vCenter that knows one
vSphere Client session (ClientSessions' questions, answered without vCenter)."""

from __future__ import annotations

from .inventory import vm_moref

READ = "r" * 24
WRITE = "w" * 24
READ_H = {"Authorization": f"Bearer {READ}"}
WRITE_H = {"Authorization": f"Bearer {WRITE}"}


class FakeSessions:
    """A vCenter that knows one session, whose user may migrate only web01."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def user(self, session_id: str) -> str | None:
        self.asked.append(session_id)
        return "VSPHERE.LOCAL\\alice" if session_id == "sess-0001-good" else None

    def has_privilege(self, session_id: str, vm: str, privilege: str) -> bool:
        return session_id == "sess-0001-good" and vm == vm_moref("web01") and privilege == "Resource.HotMigrate"
