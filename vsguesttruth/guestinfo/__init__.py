"""What the service and a guest say to each other through the VM's guestinfo keys (``guestinfo.vsguesttruth.*``).

The wire contract (key names, size limits, the state document's encoding, the JSON Schemas) is the guest
agent's ``vsguesttruth_guest.guestinfo``: both sides read that one copy, and it is re-exported here. The
service's side of the conversation, pure (no pyVmomi, no I/O):

- :mod:`.document`: the state document a VM should carry, built from its truth, compared with what it has;
- :mod:`.policy`: the guest's probing policy and service level, parsed strictly and bounded by ``[guest]``;
- :mod:`.request`: the guest's requests (``refresh``, ``migrate``), the answers, and their rate limits.

Everything a guest writes is untrusted: size-limited before it is read, parsed strictly, answered once.
"""

from __future__ import annotations

from vsguesttruth_guest.guestinfo import (
    ENCODING,
    FIELDS,
    GUEST_DEPTH,
    KEYS,
    PLAIN_LIMIT,
    POLICY,
    POLICY_LIMIT,
    PREFIX,
    REQUEST,
    REQUEST_LIMIT,
    RESPONSE,
    RPC_LIMIT,
    SCHEMA_VERSION,
    STATE,
    STATE_DEPTH,
    STATE_LIMIT,
    DocumentError,
    decode_state,
    dumps,
    encode_state,
    load_schema,
    nesting,
    parse_guest_json,
    timestamp,
)

from . import document
from .policy import GuestPolicy, Levels, default_policy, effective_policy, parse_policy
from .request import Request, RequestBook, RequestError, answered_request, parse_request, read_response, response

__all__ = [
    "ENCODING", "FIELDS", "GUEST_DEPTH", "KEYS", "PLAIN_LIMIT", "POLICY", "POLICY_LIMIT", "PREFIX", "REQUEST",
    "REQUEST_LIMIT", "RESPONSE", "RPC_LIMIT", "SCHEMA_VERSION", "STATE", "STATE_DEPTH", "STATE_LIMIT",
    "DocumentError", "GuestPolicy", "Levels", "Request", "RequestBook", "RequestError",
    "answered_request", "decode_state", "default_policy", "document", "dumps", "effective_policy", "encode_state",
    "load_schema", "nesting", "parse_guest_json", "parse_policy", "parse_request", "read_response", "response",
    "timestamp",
]
