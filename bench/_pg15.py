"""A throwaway database and roles on the machine's PostgreSQL 15 for benches.

Every name carries a random suffix, so the bench never touches anything it
did not create; `drop` removes the database and every role made for it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from vaultgate.secret import Secret, generate_password

SUPERUSER = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@dataclass
class BenchCluster:
    """The bench's database on PostgreSQL 15 and the roles made for it."""

    suffix: str = field(default_factory=lambda: secrets.token_hex(4))
    login_secret: Secret = field(default_factory=generate_password)

    @property
    def database(self) -> str:
        return f"vgbench_{self.suffix}"

    @property
    def gateway_role(self) -> str:
        return f"vgbench_gw_{self.suffix}"

    @property
    def openbao_role(self) -> str:
        return f"vgbench_bao_{self.suffix}"

    @property
    def app_role(self) -> str:
        """The NOLOGIN role OpenBao's credentials are made members of."""
        return f"vgbench_app_{self.suffix}"

    @property
    def issued_prefix(self) -> str:
        """Every login role OpenBao issues starts with this."""
        return f"vgb{self.suffix}o_"

    def project(self, index: int) -> str:
        return f"vgb{self.suffix}c{index}"

    def create(self) -> None:
        """Two CREATEROLE-only admins (gateway, OpenBao) and a fresh database."""
        with connect() as conn:
            for role in (self.gateway_role, self.openbao_role):
                verifier = conn.pgconn.encrypt_password(
                    self.login_secret.reveal_bytes(), role.encode(), b"scram-sha-256")
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}")
                             .format(sql.Identifier(role),
                                     sql.Literal(bytes(verifier).decode())))
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(
                sql.Identifier(self.app_role)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.database), sql.Identifier(self.gateway_role)))

    def drop(self, projects: int) -> None:
        """Drop the database, then every role the bench or its servers made."""
        with connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(self.database)))
            issued = conn.execute(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                (self.issued_prefix,)).fetchall()
            names = [r[0] for r in issued]
            for i in range(projects):
                names += [f"{self.project(i)}_dev", f"{self.project(i)}_dev_owner"]
            names += [self.app_role, self.openbao_role, self.gateway_role]
            with conn.transaction():
                for name in names:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
                        sql.Identifier(name)))

    def count_issued(self) -> int:
        with connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, %s)",
                (self.issued_prefix,)).fetchone()
        return int(row[0]) if row else 0


def connect() -> psycopg.Connection:
    """A superuser connection to the machine's PostgreSQL 15 (trust auth)."""
    try:
        return psycopg.connect(SUPERUSER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"the machine's PostgreSQL 15 at 127.0.0.1:5432 does not "
                         f"answer ({exc}); start it: pg_ctlcluster 15 main start"
                         ) from exc
