"""The vSphere Client user's clone ticket: ``POST /api/ui/vcenter/session/clone-ticket``.

A remote plugin's page gets the user's session token from ``htmlClientSdk.app.getSessionInfo()``; the plugin
server sends it in ``vmware-api-session-id`` to vCenter's API gateway and gets a one-use clone ticket
(``{"vc_guid": <about.instanceUuid>}`` in, ``{"session_clone_ticket": ...}`` out: Broadcom's remote plug-in
sample), which ``SessionManager.CloneSession`` turns into a SOAP session of the same user. The endpoint is not
in the SDK's bindings: it is plain HTTPS here, with the connection's TLS trust (:mod:`.transport`). Neither
the token nor the ticket is ever logged or put in a message.
"""

from __future__ import annotations

import requests

from ..errors import ApiError
from ..settings import ConnectionSettings
from .session import translate
from .transport import api_url, http_session

PATH = "/ui/vcenter/session/clone-ticket"
HEADER = "vmware-api-session-id"
_MAX_TICKET = 4096


class CloneTickets:
    """Clone tickets for vSphere Client session tokens, from one vCenter (its ``vc_guid``)."""

    def __init__(self, settings: ConnectionSettings, vc_guid: str = "", *, pool: int = 4) -> None:
        self.settings = settings
        self.vc_guid = vc_guid
        self.url = api_url(settings) + PATH
        self.http = http_session(settings, pool)

    def ticket(self, session_token: str) -> str | None:
        """A clone ticket for the user whose session ``session_token`` is; None when vCenter does not know the
        token (expired, logged out, forged). Raises a one-line VsgtError when vCenter cannot be asked."""
        body = {"vc_guid": self.vc_guid} if self.vc_guid else {}
        try:
            answer = self.http.post(self.url, json=body, headers={HEADER: session_token},
                                    timeout=min(self.settings.timeout, 15.0), allow_redirects=False)
        except requests.RequestException as exc:
            raise translate(exc, self.settings, "exchange a vSphere Client session for a clone ticket") from None
        if answer.status_code in (401, 403):
            return None
        if answer.status_code != 200:
            raise ApiError(f"vCenter at {self.settings.url} answered HTTP {answer.status_code} to the clone-ticket "
                           "request: is it vCenter 7.0 or later?")
        try:
            ticket = answer.json()["session_clone_ticket"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(f"vCenter at {self.settings.url} answered the clone-ticket request without a ticket") from None
        if not isinstance(ticket, str) or not ticket or len(ticket) > _MAX_TICKET:
            raise ApiError(f"vCenter at {self.settings.url} answered the clone-ticket request with no usable ticket")
        return ticket

    def close(self) -> None:
        self.http.close()


__all__ = ["CloneTickets", "HEADER", "PATH"]
