"""The gateway provisions as a CREATEROLE-only role on PostgreSQL 15 and 18."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from tests.gateway.test_gateway_pg15 import new_project, provision
from tests.gateway_process import RunningGateway, start_gateway
from tests.pg import PgServer
from vaultgate.secret import generate_password


@pytest.fixture
def pg18_gateway(pg18: PgServer, tmp_path: Path) -> Iterator[RunningGateway]:
    role, database = f"vg_gw_{secrets.token_hex(4)}", f"vg_db_{secrets.token_hex(4)}"
    password = generate_password()
    with pg18.connect(autocommit=True) as conn:
        verifier = conn.pgconn.encrypt_password(
            password.reveal_bytes(), role.encode(), b"scram-sha-256").decode()
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(verifier)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(database), sql.Identifier(role)))
    gateway = start_gateway(tmp_path / "gw18", host=pg18.host, port=pg18.port,
                            database=database, admin_user=role,
                            admin_secret=password)
    gateway.server = pg18  # type: ignore[attr-defined]
    gateway.role = role  # type: ignore[attr-defined]
    gateway.database = database  # type: ignore[attr-defined]
    try:
        yield gateway
    finally:
        gateway.stop()


def test_pg18_gateway_role_is_not_superuser_and_provisions(
        pg18_gateway: RunningGateway) -> None:
    server: PgServer = pg18_gateway.server  # type: ignore[attr-defined]
    project = new_project()
    result = provision(pg18_gateway, project, extensions=["citext"])
    assert result["schema"] == f"{project}_dev"
    with server.connect(pg18_gateway.database) as conn:  # type: ignore[attr-defined]
        row = conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                           "WHERE rolname = %s",
                           (pg18_gateway.role,)).fetchone()  # type: ignore[attr-defined]
        owner = conn.execute("SELECT nspowner::regrole::text FROM pg_namespace "
                             "WHERE nspname = %s", (f"{project}_dev",)).fetchone()
        version = conn.info.server_version
    assert row == (False, True, False)
    assert owner == (f"{project}_dev_owner",)
    assert version >= 180000


def test_verifiers_follow_the_clusters_scram_iterations(pg18: PgServer,
                                                       tmp_path: Path) -> None:
    """PostgreSQL 16+ lets a cluster raise scram_iterations; the gateway's
    verifiers use it, as libpq's would, and the role still logs in."""
    role, database = f"vg_gw_{secrets.token_hex(4)}", f"vg_db_{secrets.token_hex(4)}"
    password = generate_password()
    with pg18.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE").format(
            sql.Identifier(role)))
        conn.execute(sql.SQL("ALTER ROLE {} SET scram_iterations = 8192").format(
            sql.Identifier(role)))
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(conn.pgconn.encrypt_password(
                password.reveal_bytes(), role.encode(), b"scram-sha-256").decode())))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(database), sql.Identifier(role)))
    gateway = start_gateway(tmp_path / "gw", host=pg18.host, port=pg18.port,
                            database=database, admin_user=role,
                            admin_secret=password)
    try:
        project = new_project()
        provision(gateway, project)
        item = gateway.vault.get_item(f"{project}-dev")
        with pg18.connect(autocommit=True) as conn:
            stored = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                (f"{project}_dev",)).fetchone()
        assert stored is not None and stored[0].startswith("SCRAM-SHA-256$8192:")
        pg18.connect(user=f"{project}_dev", secret=item.get("password")).close()
    finally:
        gateway.stop()
