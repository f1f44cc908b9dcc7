"""SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677) in PostgreSQL's stored form.

The gateway sends PostgreSQL a verifier, never the password. Computing it here
with hashlib needs no database connection and releases the GIL, so it runs in a
worker thread while the event loop serves other requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from vaultgate.secret import Secret

ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def verifier(plaintext: Secret, *, salt: bytes | None = None,
             iterations: int = ITERATIONS) -> str:
    """Return `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`."""
    raw = plaintext.reveal()
    if not _is_saslprep_identity(raw):
        raise ValueError("password needs SASLprep; use libpq's encrypt_password")
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", raw.encode("ascii"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return (f"SCRAM-SHA-256${iterations}:{_b64(salt)}"
            f"${_b64(stored_key)}:{_b64(server_key)}")


def supports(plaintext: Secret) -> bool:
    """True when this module computes the same verifier libpq would."""
    return _is_saslprep_identity(plaintext.reveal())


def _is_saslprep_identity(text: str) -> bool:
    # Printable ASCII is left unchanged by SASLprep (RFC 4013), which libpq
    # applies first; anything else goes to libpq itself.
    return text.isascii() and text.isprintable()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
