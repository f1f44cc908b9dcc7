"""Verifying a request on the gateway side, strictest and cheapest checks first."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from hmac import compare_digest

from http_message_signatures import HTTPMessageSignaturesException

from vaultgate.errors import ConfigError

from . import _rfc9421
from ._fields import (
    SignatureInput,
    parse_content_digest,
    parse_signature,
    parse_signature_input,
)
from ._keys import SigningKey, Verified, hmac_key
from ._profile import (
    AUTHORITY,
    MAX_TTL,
    METHOD,
    PATH,
    QUERY,
    BodyTooLarge,
    SignatureRejected,
)

MAX_HEADERS = 128
MAX_FIELD = 1024
MAX_TARGET = 2048
_FIELDS = ("content-type", "content-digest", "signature-input", "signature")


class Verifier:
    """Verify signed requests against the profile; one instance per gateway.

    `keys` maps a key id to its SigningKey, or None for an unknown id (what it
    raises propagates). Every refusal raises SignatureRejected; nonce
    uniqueness and scope are the caller's checks.
    """

    def __init__(
        self,
        keys: Callable[[str], SigningKey | None],
        *,
        max_age: int = 300,
        max_future: int = 30,
        max_body: int = 65536,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("max_age", max_age), ("max_body", max_body)):
            if type(value) is not int or value < 1:
                raise ConfigError(f"verifier {name} must be a positive integer")
        if type(max_future) is not int or max_future < 0:
            raise ConfigError("verifier max_future must be a non-negative integer")
        self._keys = keys
        self._max_age = max_age
        self._max_future = max_future
        self._max_body = max_body
        self._clock = clock

    def verify(
        self,
        method: str,
        authority: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
    ) -> Verified:
        """Return the verified key and nonce, or raise SignatureRejected.

        `path` and `query` are the raw bytes of the request target as text
        (not percent-decoded; query without '?', '' if none); `headers` are
        every request header as (lowercase name, value), duplicates kept.
        """
        if len(body) > self._max_body:
            raise BodyTooLarge(f"body of {len(body)} bytes exceeds {self._max_body}")
        _check_target(method, authority, path, query)
        fields = _pick_fields(headers)

        sig_input = parse_signature_input(fields["signature-input"])
        parse_signature(fields["signature"])  # refused here if malformed
        digest = parse_content_digest(fields["content-digest"])

        key = self._lookup(sig_input.keyid)
        now = self._clock()
        _check_key_period(key, now)
        self._check_window(sig_input, now)

        if not compare_digest(digest, hashlib.sha256(body).digest()):
            raise SignatureRejected("Content-Digest does not match the body")
        _check_signature(method, authority, path, query, fields, key)
        return Verified(key, sig_input.nonce, sig_input.created, sig_input.expires)

    def _lookup(self, key_id: str) -> SigningKey:
        key = self._keys(key_id)
        if key is None:
            raise SignatureRejected(f"unknown key id {key_id}")
        if key.key_id != key_id:
            raise SignatureRejected(f"key lookup for {key_id} returned another key")
        return key

    def _check_window(self, sig_input: SignatureInput, now: float) -> None:
        created, expires = sig_input.created, sig_input.expires
        if created > now + self._max_future:
            raise SignatureRejected(f"created {created} is in the future")
        if created < now - self._max_age:
            raise SignatureRejected(f"created {created} is too old")
        if not created < expires <= created + MAX_TTL:
            raise SignatureRejected("expires is not 1 to 300 seconds after created")
        if now > expires:
            raise SignatureRejected(f"expired at {expires}")


def _check_target(method: str, authority: str, path: str, query: str) -> None:
    if not METHOD.fullmatch(method):
        raise SignatureRejected("the method is not upper-case letters")
    if len(authority) > 260 or not AUTHORITY.fullmatch(authority):
        raise SignatureRejected("the authority is not a host[:port]")
    if len(path) > MAX_TARGET or not PATH.fullmatch(path):
        raise SignatureRejected("the path is too long or not percent-encoded")
    if len(query) > MAX_TARGET or not QUERY.fullmatch(query):
        raise SignatureRejected("the query is too long or not percent-encoded")


def _pick_fields(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Return the profile's header fields, each present exactly once and sane."""
    if len(headers) > MAX_HEADERS:
        raise SignatureRejected(f"more than {MAX_HEADERS} header fields")
    fields: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name not in _FIELDS:
            continue
        if name in fields:
            raise SignatureRejected(f"duplicate {name} header")
        if not value or len(value) > MAX_FIELD:
            raise SignatureRejected(f"{name} header is empty or too long")
        if not (value.isascii() and value.isprintable()):
            raise SignatureRejected(f"{name} header is not printable ASCII")
        fields[name] = value
    missing = [name for name in _FIELDS if name not in fields]
    if missing:
        raise SignatureRejected(f"missing {', '.join(missing)} header")
    return fields


def _check_key_period(key: SigningKey, now: float) -> None:
    if key.not_before is not None and now < key.not_before:
        raise SignatureRejected(f"key {key.key_id} is not valid yet")
    if key.not_after is not None and now > key.not_after:
        raise SignatureRejected(f"key {key.key_id} is no longer valid")


def _check_signature(
    method: str,
    authority: str,
    path: str,
    query: str,
    fields: Mapping[str, str],
    key: SigningKey,
) -> None:
    url = f"http://{authority}{path}" + (f"?{query}" if query else "")
    message = _rfc9421.Message(method, url, dict(fields))
    try:
        _rfc9421.verify(message, hmac_key(key))
    except HTTPMessageSignaturesException as exc:
        raise SignatureRejected(f"signature check failed for key {key.key_id}") from exc
