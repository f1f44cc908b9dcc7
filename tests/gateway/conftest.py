"""A real gateway process on the machine's PostgreSQL 15, as a non-superuser."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.gateway_process import RunningGateway, start_gateway
from vaultgate.secret import generate_password

PG15 = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def pg15_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(**PG15, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"the machine's PostgreSQL 15 at 127.0.0.1:5432 is not "
                    f"answering ({exc}); start it: pg_ctlcluster 15 main start")


@pytest.fixture(scope="module")
def pg15_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway whose own role has CREATEROLE only and owns a fresh database."""
    suffix = secrets.token_hex(4)
    role, database = f"vg_gw_{suffix}", f"vg_db_{suffix}"
    password = generate_password()
    with pg15_admin() as conn:
        verifier = conn.pgconn.encrypt_password(
            password.reveal_bytes(), role.encode(), b"scram-sha-256").decode()
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(verifier)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(database), sql.Identifier(role)))
    gateway = start_gateway(Path(tmp_path_factory.mktemp("gw15")), host="127.0.0.1",
                            port=5432, database=database, admin_user=role,
                            admin_password=password)
    gateway.database = database  # type: ignore[attr-defined]
    try:
        yield gateway
    finally:
        gateway.stop()
        _drop(database, role)


def _drop(database: str, gateway_role: str) -> None:
    with pg15_admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database)))
        rows = conn.execute(
            "SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m "
            "ON m.member = r.oid OR m.roleid = r.oid JOIN pg_roles g "
            "ON g.oid = m.grantor WHERE g.rolname = %s", (gateway_role,)).fetchall()
        names = {r[0] for r in rows} - {gateway_role}
        for name in sorted(names, key=lambda n: n.endswith("_owner")):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
            sql.Identifier(gateway_role)))
