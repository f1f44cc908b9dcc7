"""The fixed signing profile: label, algorithm, covered components, grammars."""

from __future__ import annotations

import base64
import hashlib
import re

from vaultgate.errors import SigningError

LABEL = "sig"
ALGORITHM = "hmac-sha256"
COMPONENTS = (
    "@method",
    "@authority",
    "@path",
    "@query",
    "content-type",
    "content-digest",
)
PARAMETERS = frozenset({"created", "expires", "nonce", "keyid", "alg"})
MAX_TTL = 300
MIN_KEY_BYTES = 32
SIGNATURE_BYTES = 32

KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}", re.ASCII)
METHOD = re.compile(r"[A-Z]{1,16}", re.ASCII)
AUTHORITY = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?",
    re.ASCII,
)
_PCHAR = r"[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}"
PATH = re.compile(rf"/(?:{_PCHAR}|/)*", re.ASCII)
QUERY = re.compile(rf"(?:{_PCHAR}|[/?])*", re.ASCII)


class SignatureRejected(SigningError):
    """A request signature was refused.

    str() is the same generic sentence for every refusal, fit for the caller;
    `reason` says precisely why, for the gateway's log only.
    """

    def __init__(self, reason: str) -> None:
        super().__init__("the request signature was refused")
        self.reason = reason


class BodyTooLarge(SignatureRejected):
    """The body is larger than the verifier accepts (an HTTP 413, not a 401)."""


def content_digest(body: bytes) -> str:
    """Return the Content-Digest field value of a body: sha-256, RFC 9530."""
    digest = hashlib.sha256(body).digest()
    return f"sha-256=:{base64.b64encode(digest).decode('ascii')}:"
