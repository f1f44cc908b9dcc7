"""One exception tree for vaultgate.

    VaultgateError              exit code 1 unless stated
    ├── UsageError              bad input from the user (exit code 2)
    │   ├── InvalidNameError    a project or environment name outside the grammar
    │   └── InvalidReferenceError   an op:// reference that does not parse
    ├── ConfigError             vaultgate.toml or gateway settings
    ├── VaultError              a secret store failed or refused
    │   ├── VaultUnavailableError   cannot be reached or read at all
    │   ├── NotFoundError       vault, item or field not found
    │   └── AmbiguousError      a reference matches more than one item
    ├── SigningError            a request could not be signed or was refused
    ├── GatewayError            the gateway is down or answered an error
    ├── DatabaseError           PostgreSQL failed
    └── StackError              the embedded local stack failed

Messages say what failed, name the object, and give the fix. They never hold a
secret value.
"""

from __future__ import annotations


class VaultgateError(Exception):
    """Root of every error vaultgate raises on purpose."""

    exit_code = 1


class UsageError(VaultgateError):
    exit_code = 2


class InvalidNameError(UsageError):
    pass


class InvalidReferenceError(UsageError):
    pass


class ConfigError(VaultgateError):
    exit_code = 2


class VaultError(VaultgateError):
    pass


class VaultUnavailableError(VaultError):
    pass


class NotFoundError(VaultError):
    pass


class AmbiguousError(VaultError):
    pass


class SigningError(VaultgateError):
    pass


class GatewayError(VaultgateError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DatabaseError(VaultgateError):
    pass


class StackError(VaultgateError):
    pass
