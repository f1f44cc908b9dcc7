"""The gateway: the only process that talks to PostgreSQL as an administrator."""
