"""Test PostgreSQL servers: where each one is and how an admin logs in.

Fixtures in conftest.py build these; tests use `server.connect()` for an admin
connection and `server.admin.secret` (a Secret) when they need the credential.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from vaultgate.localstack.cluster import SUPERUSER, Cluster
from vaultgate.localstack.roles import DATABASE, GATEWAY_ROLE, ensure_gateway_role
from vaultgate.secret import Secret, generate_password

MACHINE_HOST = "127.0.0.1"
MACHINE_PORT = 5432
MACHINE_BINDIR = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class Login:
    user: str
    secret: Secret | None


@dataclass(frozen=True)
class PgServer:
    """One PostgreSQL a test may use, with its admin (and gateway) logins."""

    name: str
    host: str
    port: int
    dbname: str
    admin: Login
    scram: bool
    major: int
    cluster: Cluster | None = None
    gateway: Login | None = None

    @property
    def log_path(self) -> Path | None:
        """The server log (log_statement=all) for clusters the tests started."""
        return self.cluster.log_path if self.cluster else None

    def connect(self, dbname: str | None = None, *, user: str | None = None,
                secret: Secret | None = None, **kwargs: Any
                ) -> psycopg.Connection[Any]:
        """An admin connection over TCP, or as `user` with `secret`."""
        login = self.admin if user is None else Login(user, secret)
        shown = login.secret.reveal() if login.secret is not None else None
        return psycopg.connect(host=self.host, port=self.port, user=login.user,
                               password=shown, dbname=dbname or self.dbname,
                               connect_timeout=10, **kwargs)

    def connect_gateway(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection as the least-privilege gateway role, if this server has one."""
        if self.gateway is None:
            raise RuntimeError(f"{self.name} has no gateway role")
        return self.connect(user=self.gateway.user, secret=self.gateway.secret,
                            **kwargs)


def temp_base(tag: str) -> Path:
    """A fresh cluster folder the server user can reach (not under pytest's 0700)."""
    return Path(tempfile.gettempdir()) / f"vaultgate-{tag}-{secrets.token_hex(4)}"


@contextmanager
def temp_cluster(name: str, bindir: Path, *, log_statement: str = "all"
                 ) -> Iterator[PgServer]:
    """Init and start a throwaway scram cluster with a gateway role; remove it after."""
    cluster = Cluster(bindir, temp_base(name), log_statement=log_statement,
                      durable=False)
    admin, gateway = generate_password(), generate_password()
    try:
        cluster.init(admin)
        ensure_gateway_role(cluster, admin, gateway)
        yield PgServer(name, cluster.host, cluster.port, DATABASE,
                       Login(SUPERUSER, admin), True, cluster.major, cluster,
                       Login(GATEWAY_ROLE, gateway))
    finally:
        cluster.stop()
        shutil.rmtree(cluster.base, ignore_errors=True)


def machine_unavailable_reason() -> str | None:
    """Why the machine's PostgreSQL at 127.0.0.1:5432 cannot be used, or None."""
    try:
        psycopg.connect(host=MACHINE_HOST, port=MACHINE_PORT, user="postgres",
                        dbname="postgres", connect_timeout=5).close()
    except psycopg.Error as exc:
        return (f"the machine's PostgreSQL at {MACHINE_HOST}:{MACHINE_PORT} does not "
                f"answer as superuser postgres ({exc}); start it "
                "(e.g. `pg_ctlcluster 15 main start`)")
    return None


@contextmanager
def machine_database() -> Iterator[PgServer]:
    """A fresh database with a random name on the machine's server; dropped after."""
    name = f"vg_test_{secrets.token_hex(6)}"
    admin = Login("postgres", None)
    server = PgServer("pg15", MACHINE_HOST, MACHINE_PORT, "postgres", admin,
                      False, 15)
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    try:
        yield PgServer("pg15", MACHINE_HOST, MACHINE_PORT, name, admin, False, major)
    finally:
        with server.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))
