"""The bridge to http_message_signatures, which builds RFC 9421 signature bases.

The library builds the signature base on both sides. The HMAC comparison is
ours, so that it is hmac.compare_digest by construction.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hmac import compare_digest
from typing import Any

from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    HTTPSignatureKeyResolver,
    InvalidSignature,
)

from ._profile import ALGORITHM, COMPONENTS, LABEL


@dataclass
class Message:
    """The request shape the library reads: method, absolute URL, headers."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _HmacSha256(HTTPSignatureAlgorithm):
    algorithm_id = ALGORITHM

    def __init__(self, public_key: Any = None, private_key: Any = None) -> None:
        self._key: bytes = private_key if private_key is not None else public_key

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def verify(self, signature: bytes, message: bytes) -> None:
        if not compare_digest(self.sign(message), signature):
            raise InvalidSignature("the signature does not match")


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key: bytes) -> None:
        self._key = key

    def resolve_public_key(self, key_id: str) -> bytes:
        return self._key

    def resolve_private_key(self, key_id: str) -> bytes:
        return self._key


class _WindowCheckedVerifier(HTTPMessageVerifier):
    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        # The policy has already checked the window against its own clock,
        # which tests inject; the library would read the real one.
        return None


def sign(
    message: Message,
    body: bytes,
    key: bytes,
    *,
    key_id: str,
    created: int,
    expires: int,
    nonce: str,
) -> None:
    """Add Signature-Input and Signature to message.headers, in place.

    message.headers already holds Content-Digest; the library checks it
    against body.
    """
    signer = HTTPMessageSigner(
        signature_algorithm=_HmacSha256, key_resolver=_OneKey(key)
    )
    signer.sign(
        message,
        key_id=key_id,
        created=datetime.fromtimestamp(created, tz=UTC),
        expires=datetime.fromtimestamp(expires, tz=UTC),
        nonce=nonce,
        label=LABEL,
        include_alg=True,
        covered_component_ids=COMPONENTS,
        body=body,
        use_existing_digest=True,
    )


def verify(message: Message, key: bytes) -> Mapping[str, str]:
    """Check message's one signature with key; return the covered values."""
    verifier = _WindowCheckedVerifier(
        signature_algorithm=_HmacSha256, key_resolver=_OneKey(key)
    )
    results = verifier.verify(message, max_age=None, require_components=COMPONENTS)
    if len(results) != 1:
        raise InvalidSignature("expected exactly one signature")
    return results[0].covered_components
