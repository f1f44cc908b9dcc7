"""The embedded default: a local PostgreSQL cluster and the gateway process."""
