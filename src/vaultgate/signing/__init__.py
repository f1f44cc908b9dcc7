"""The request-signing profile: sign on the CLI, verify on the gateway.

RFC 9421 HTTP Message Signatures with one label, `sig`, algorithm
hmac-sha256, and a component list and parameter set fixed by the server.
The body is bound by an RFC 9530 Content-Digest (sha-256). docs/signing.md
states the profile byte by byte.

    SigningError (vaultgate.errors)   the request could not be signed
    └── SignatureRejected             refused by the verifier; .reason for the log
        └── BodyTooLarge              the body exceeds the verifier's limit
"""

from ._keys import SigningKey, Verified, check_scope
from ._profile import (
    ALGORITHM,
    COMPONENTS,
    LABEL,
    MAX_TTL,
    BodyTooLarge,
    SignatureRejected,
    content_digest,
)
from ._sign import sign_request
from ._verify import Verifier

__all__ = [
    "ALGORITHM",
    "COMPONENTS",
    "LABEL",
    "MAX_TTL",
    "BodyTooLarge",
    "SignatureRejected",
    "SigningKey",
    "Verified",
    "Verifier",
    "check_scope",
    "content_digest",
    "sign_request",
]
