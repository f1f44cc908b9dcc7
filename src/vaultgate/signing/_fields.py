"""Strict parsing of the Signature-Input, Signature and Content-Digest fields.

http_sf parses the Structured Field syntax (RFC 8941); this module adds the
profile on top. A field must be in its canonical serialization, so that one
request has exactly one spelling: this also refuses non-canonical base64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import http_sf

from ._profile import (
    ALGORITHM,
    COMPONENTS,
    KEY_ID,
    LABEL,
    NONCE,
    PARAMETERS,
    SIGNATURE_BYTES,
    SignatureRejected,
)


@dataclass(frozen=True)
class SignatureInput:
    """The parsed `sig` member of Signature-Input."""

    created: int
    expires: int
    nonce: str
    keyid: str


def _refuse_duplicate(key: str, context: str) -> None:
    raise SignatureRejected(f"duplicate {context} key in a signature field")


def _parse_dictionary(name: str, value: str) -> dict[str, Any]:
    """Parse a Dictionary field, refusing duplicates and non-canonical spellings."""
    try:
        parsed = http_sf.parse(
            value.encode("ascii"),
            tltype="dictionary",
            on_duplicate_key=_refuse_duplicate,
        )
        canonical = http_sf.ser(parsed)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise SignatureRejected(f"{name} is not a valid structured field") from exc
    if not isinstance(parsed, dict):
        raise SignatureRejected(f"{name} is not a dictionary")
    if canonical != value:
        raise SignatureRejected(f"{name} is not in canonical serialization")
    return parsed


def _only_member(name: str, parsed: dict[str, Any], key: str) -> Any:
    if len(parsed) != 1:
        raise SignatureRejected(f"{name} must hold exactly one member")
    if key not in parsed:
        raise SignatureRejected(f"{name} member is not {key!r}")
    return parsed[key]


def parse_signature_input(value: str) -> SignatureInput:
    """Parse Signature-Input: one `sig` member, the fixed components and params."""
    member, params = _only_member(
        "Signature-Input", _parse_dictionary("Signature-Input", value), LABEL
    )
    if not isinstance(member, list):
        raise SignatureRejected("Signature-Input member is not an inner list")
    components = tuple(item for item, _ in member)
    if any(type(item) is not str for item in components) or any(
        item_params for _, item_params in member
    ):
        raise SignatureRejected("Signature-Input components are not plain strings")
    if components != COMPONENTS:
        raise SignatureRejected("Signature-Input covers other components")
    return _parse_parameters(params)


def _parse_parameters(params: dict[str, Any]) -> SignatureInput:
    if set(params) != PARAMETERS:
        raise SignatureRejected("Signature-Input has missing or unknown parameters")
    created, expires = params["created"], params["expires"]
    if type(created) is not int or type(expires) is not int:
        raise SignatureRejected("created and expires must be integers")
    if type(params["alg"]) is not str or params["alg"] != ALGORITHM:
        raise SignatureRejected("alg is not hmac-sha256")
    keyid, nonce = params["keyid"], params["nonce"]
    if type(keyid) is not str or not KEY_ID.fullmatch(keyid):
        raise SignatureRejected("keyid is not a valid key id")
    if type(nonce) is not str or not NONCE.fullmatch(nonce):
        raise SignatureRejected("nonce is not 16 to 64 base64url characters")
    return SignatureInput(created, expires, nonce, keyid)


def parse_signature(value: str) -> bytes:
    """Parse Signature: one `sig` member, a 32-byte Byte Sequence, no parameters."""
    member, params = _only_member(
        "Signature", _parse_dictionary("Signature", value), LABEL
    )
    if type(member) is not bytes or params:
        raise SignatureRejected("Signature member is not a plain byte sequence")
    if len(member) != SIGNATURE_BYTES:
        raise SignatureRejected("Signature is not 32 bytes long")
    return member


def parse_content_digest(value: str) -> bytes:
    """Parse Content-Digest: exactly one sha-256 member of 32 bytes."""
    parsed = _parse_dictionary("Content-Digest", value)
    member, params = _only_member("Content-Digest", parsed, "sha-256")
    if type(member) is not bytes or params or len(member) != 32:
        raise SignatureRejected("Content-Digest sha-256 value is malformed")
    return member
