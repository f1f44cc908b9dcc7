"""Signing keys, the result of a verification, and the scope check."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from vaultgate.errors import ConfigError
from vaultgate.secret import Secret

from ._profile import KEY_ID, MIN_KEY_BYTES, SignatureRejected

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}", re.ASCII)


@dataclass(frozen=True)
class SigningKey:
    """An HMAC signing key with its key id, scope and validity period.

    `secret` is base64url text of at least 32 random bytes; the HMAC key is
    the decoded bytes. A scope or bound of None means "no restriction".
    """

    key_id: str
    secret: Secret
    envs: frozenset[str] | None = None
    operations: frozenset[str] | None = None
    not_before: float | None = None
    not_after: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not KEY_ID.fullmatch(self.key_id):
            raise ConfigError(
                f"signing key id {self.key_id!r} is invalid: use 1 to 64 letters, "
                "digits, '.', '_' or '-', starting with a letter or digit"
            )
        if not isinstance(self.secret, Secret):
            raise ConfigError(f"signing key {self.key_id!r}: secret must be a Secret")
        hmac_key(self)
        for name in ("envs", "operations"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, frozenset):
                raise ConfigError(
                    f"signing key {self.key_id!r}: {name} must be a frozenset or None"
                )
        if (
            self.not_before is not None
            and self.not_after is not None
            and self.not_before >= self.not_after
        ):
            raise ConfigError(
                f"signing key {self.key_id!r}: not_before must be before not_after"
            )


def hmac_key(key: SigningKey) -> bytes:
    """Decode the key's secret into HMAC key bytes, or raise ConfigError."""
    text = key.secret.reveal()
    problem = f"signing key {key.key_id!r}: the secret is not base64url text"
    if not _BASE64URL.fullmatch(text):
        raise ConfigError(f"{problem}; generate a new key")
    try:
        raw = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        # from None: the decoder's message could quote part of the secret.
        raise ConfigError(f"{problem}; generate a new key") from None
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigError(
            f"signing key {key.key_id!r} is shorter than {MIN_KEY_BYTES} bytes; "
            "generate a new key"
        )
    return raw


@dataclass(frozen=True)
class Verified:
    """A request whose signature verified: the key that signed it and its nonce."""

    key: SigningKey
    nonce: str
    created: int
    expires: int


def check_scope(verified: Verified, env: str, operation: str) -> None:
    """Raise SignatureRejected unless the signing key may ask for this env and op."""
    key = verified.key
    if key.envs is not None and env not in key.envs:
        raise SignatureRejected(f"key {key.key_id} is not allowed environment {env!r}")
    if key.operations is not None and operation not in key.operations:
        raise SignatureRejected(
            f"key {key.key_id} is not allowed operation {operation!r}"
        )
