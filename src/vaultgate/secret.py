"""The masked Secret type and password generation."""

from __future__ import annotations

# base64, hmac and secrets are imported where used: they pull in OpenSSL's
# hashes, which most CLI starts (run, read, --help) never need.

MASK = "<concealed by vaultgate>"


class Secret:
    """A secret value whose repr and str are masked; call reveal() to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def reveal_bytes(self) -> bytes:
        return self._value.encode("utf-8")

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __format__(self, spec: str) -> str:
        return "****"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac

        return hmac.compare_digest(self.reveal_bytes(), other.reveal_bytes())

    # Unhashable on purpose: a hash of the value would be derived from it.
    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not pickled")


def generate_password(nbytes: int = 32) -> Secret:
    """Return nbytes from the OS CSPRNG, base64url encoded without padding."""
    import base64
    import secrets

    raw = secrets.token_bytes(nbytes)
    return Secret(base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"))


def generate_hex(nbytes: int = 32) -> Secret:
    import secrets

    return Secret(secrets.token_hex(nbytes))
