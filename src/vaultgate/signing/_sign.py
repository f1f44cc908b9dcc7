"""Signing a request on the client side."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from http_message_signatures import HTTPMessageSignaturesException

from vaultgate.errors import SigningError

from . import _rfc9421
from ._keys import SigningKey, hmac_key
from ._profile import MAX_TTL, METHOD, NONCE, content_digest


def sign_request(
    method: str,
    url: str,
    body: bytes,
    key: SigningKey,
    *,
    content_type: str = "application/json",
    created: int | None = None,
    nonce: str | None = None,
    ttl: int = 60,
) -> dict[str, str]:
    """Return the headers to send: Content-Type, Content-Digest, Signature-Input,
    Signature. Send `body` byte for byte as given."""
    _check_arguments(method, url, content_type, ttl)
    created = int(time.time()) if created is None else created
    nonce = secrets.token_urlsafe(24) if nonce is None else nonce
    if not NONCE.fullmatch(nonce):
        raise SigningError("the nonce must be 16 to 64 base64url characters")

    message = _rfc9421.Message(method, url)
    message.headers["Content-Type"] = content_type
    message.headers["Content-Digest"] = content_digest(body)
    try:
        _rfc9421.sign(
            message,
            body,
            hmac_key(key),
            key_id=key.key_id,
            created=created,
            expires=created + ttl,
            nonce=nonce,
        )
    except HTTPMessageSignaturesException as exc:
        raise SigningError(f"cannot sign the request: {exc}") from exc
    return dict(message.headers)


def _check_arguments(method: str, url: str, content_type: str, ttl: int) -> None:
    if not METHOD.fullmatch(method):
        raise SigningError(f"HTTP method {method!r} must be upper-case letters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SigningError("the gateway URL must be an absolute http(s) URL")
    # The URL is not quoted in these messages: user info may hold a password.
    if parts.username is not None or parts.fragment or "#" in url:
        raise SigningError("the gateway URL must have no user info and no fragment")
    if not content_type or not (content_type.isascii() and content_type.isprintable()):
        raise SigningError("the Content-Type must be non-empty printable ASCII")
    if type(ttl) is not int or not 1 <= ttl <= MAX_TTL:
        raise SigningError(f"ttl must be 1 to {MAX_TTL} seconds, not {ttl!r}")
