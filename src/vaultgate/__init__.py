"""vaultgate: PostgreSQL credentials that nobody types, sees or commits."""

__version__ = "0.1.0"
