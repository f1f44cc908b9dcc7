"""A real gateway process on the machine's PostgreSQL 15, as a non-superuser."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.gateway_process import (
    RunningGateway,
    key_fields,
    new_key,
    start_gateway,
)
from vaultgate.secret import Secret, generate_password

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
    role, database, password = _gateway_database(secrets.token_hex(4))
    gateway = start_gateway(Path(tmp_path_factory.mktemp("gw15")), host="127.0.0.1",
                            port=5432, database=database, admin_user=role,
                            admin_secret=password)
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


def _gateway_database(suffix: str) -> tuple[str, str, Secret]:
    """Create a CREATEROLE-only role and a database it owns on PostgreSQL 15."""
    role, database = f"vg_gw_{suffix}", f"vg_db_{suffix}"
    password = generate_password()
    with pg15_admin() as conn:
        verifier = conn.pgconn.encrypt_password(
            password.reveal_bytes(), role.encode(), b"scram-sha-256").decode()
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(verifier)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(database), sql.Identifier(role)))
    return role, database, password


def wait_for_key_reload(started: float) -> None:
    """Sleep until the gateway's KeyRing may reload from the vault again."""
    from vaultgate.gateway.keys import RELOAD_SECONDS

    time.sleep(max(0.0, started + RELOAD_SECONDS + 0.3 - time.monotonic()))


@pytest.fixture(scope="module")
def scoped_gateway(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[RunningGateway]:
    """A gateway whose key may only ask `target` in `staging`; its item also
    carries an expired previous key (`gateway.expired_key`)."""
    role, database, password = _gateway_database(secrets.token_hex(4))
    key = new_key(envs=frozenset({"staging"}), operations=frozenset({"target"}))
    gateway = start_gateway(Path(tmp_path_factory.mktemp("gwscoped")),
                            host="127.0.0.1", port=5432, database=database,
                            admin_user=role, admin_secret=password, key=key)
    started = time.monotonic()
    expired = new_key(not_after=time.time() - 60)
    fields = dict(key_fields(key))
    fields.update({f"previous_{k}": v for k, v in key_fields(expired).items()})
    gateway.vault.update_item("vaultgate-signing-key", fields)
    gateway.database = database  # type: ignore[attr-defined]
    gateway.expired_key = expired  # type: ignore[attr-defined]
    wait_for_key_reload(started)
    try:
        yield gateway
    finally:
        gateway.stop()
        _drop(database, role)
