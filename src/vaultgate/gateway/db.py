"""The gateway's connection pool to the target cluster and the replay store."""

from __future__ import annotations

import logging
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from vaultgate.gateway.settings import ClusterSettings
from vaultgate.secret import Secret

log = logging.getLogger("vaultgate.gateway.db")

SETUP = """
CREATE SCHEMA IF NOT EXISTS vaultgate;
REVOKE ALL ON SCHEMA vaultgate FROM PUBLIC;
CREATE TABLE IF NOT EXISTS vaultgate.nonces (
    key_id text NOT NULL,
    nonce text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
"""
PURGE = "DELETE FROM vaultgate.nonces WHERE expires_at < now() - interval '5 minutes'"


def nonce_statement(key_id: str, nonce: str, expires: int) -> sql.Composable:
    """Spend a nonce; a replay fails the whole transaction with a unique violation."""
    return sql.SQL(
        "INSERT INTO vaultgate.nonces (key_id, nonce, expires_at) "
        "VALUES ({}, {}, to_timestamp({}))").format(
        sql.Literal(key_id), sql.Literal(nonce), sql.Literal(expires))


def make_pool(cluster: ClusterSettings, username: str, secret: Secret,
              min_size: int, max_size: int) -> AsyncConnectionPool[Any]:
    # The password travels to libpq in memory; it is in no argv and no file.
    kwargs = {
        "host": cluster.host, "port": cluster.port, "dbname": cluster.database,
        "user": username, "password": secret.reveal(), "autocommit": True,
        "application_name": "vaultgate-gateway", "connect_timeout": 5,
    }
    return AsyncConnectionPool(kwargs=kwargs, min_size=min_size, max_size=max_size,
                               open=False, name="vaultgate-gateway", timeout=10)
