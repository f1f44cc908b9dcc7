"""The gateway's least-privilege role and database in a local cluster.

`vaultgate_gateway` logs in with CREATEROLE but is not a superuser; it owns the
`vaultgate` database (and so its `public` schema). Extensions that are not
trusted cannot be created by it, so the superuser pre-creates the ones we
ship into `public` (PRECREATED_EXTENSIONS).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from vaultgate.localstack.cluster import SUPERUSER, Cluster, set_password
from vaultgate.secret import Secret

log = logging.getLogger("vaultgate.localstack")

GATEWAY_ROLE = "vaultgate_gateway"
DATABASE = "vaultgate"
# Untrusted extensions the superuser installs once into vaultgate.public,
# when the cluster ships them. Everything else the gateway may create itself.
PRECREATED_EXTENSIONS = ("vector",)
# Installed in every database already, or of no use to a project.
_NOT_OFFERED = frozenset({"plpgsql"})


def ensure_gateway_role(cluster: Cluster, admin_secret: Secret,
                        gateway_secret: Secret) -> list[str]:
    """Create or repair the gateway role and database; return the allowlist."""
    with cluster.connect(SUPERUSER, admin_secret, autocommit=True) as conn:
        _ensure_role(conn, cluster.major, gateway_secret)
        _ensure_database(conn)
    with cluster.connect(SUPERUSER, admin_secret, DATABASE,
                         autocommit=True) as conn:
        _precreate_extensions(conn)
        return _allowlist(conn)


def _ensure_role(conn: psycopg.Connection[Any], major: int,
                 password: Secret) -> None:
    role = sql.Identifier(GATEWAY_ROLE)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                          (GATEWAY_ROLE,)).fetchone()
    if exists is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        log.info("created role %s", GATEWAY_ROLE)
    conn.execute(sql.SQL(
        "ALTER ROLE {} LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION "
        "NOBYPASSRLS").format(role))
    if major >= 16:
        # Since PostgreSQL 16 a CREATEROLE role only gets ADMIN OPTION on the
        # roles it creates; it also needs SET to make them own schemas
        # (CREATE SCHEMA ... AUTHORIZATION). INHERIT is not granted on purpose.
        conn.execute(sql.SQL("ALTER ROLE {} SET createrole_self_grant = 'set'")
                     .format(role))
    set_password(conn, GATEWAY_ROLE, password)


def _ensure_database(conn: psycopg.Connection[Any]) -> None:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                          (DATABASE,)).fetchone()
    if exists is None:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(DATABASE), sql.Identifier(GATEWAY_ROLE)))
        log.info("created database %s owned by %s", DATABASE, GATEWAY_ROLE)
    else:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(DATABASE), sql.Identifier(GATEWAY_ROLE)))


def _precreate_extensions(conn: psycopg.Connection[Any]) -> None:
    shipped = _available(conn)
    for name in PRECREATED_EXTENSIONS:
        if name in shipped:
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA public")
                         .format(sql.Identifier(name)))


def _available(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute("SELECT name FROM pg_available_extensions").fetchall()
    return {row[0] for row in rows}


def _allowlist(conn: psycopg.Connection[Any]) -> list[str]:
    """Trusted extensions this cluster ships, plus the pre-created ones."""
    rows = conn.execute(
        "SELECT DISTINCT name FROM pg_available_extension_versions WHERE trusted"
    ).fetchall()
    names = {row[0] for row in rows} - _NOT_OFFERED
    names |= set(PRECREATED_EXTENSIONS) & _available(conn)
    return sorted(names)
