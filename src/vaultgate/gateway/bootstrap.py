"""Set up a target cluster for a gateway, once, as its administrator.

Creates the gateway's own role (LOGIN CREATEROLE, never superuser) with a
generated password, the database it owns, and the vault item the gateway reads
its login from. The vault item is written first and removed again if the role
cannot be set, so the vault never holds a login that does not work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from vaultgate.errors import DatabaseError, UsageError
from vaultgate.gateway.settings import GatewaySettings
from vaultgate.secret import Secret, generate_password
from vaultgate.vaults import ItemExistsError, Vault, open_vault

log = logging.getLogger("vaultgate.gateway.bootstrap")
ROLE_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Bootstrapped:
    role: str
    database: str
    item: str
    created_role: bool
    created_database: bool


def bootstrap(settings: GatewaySettings, admin_dsn: str, role: str,
              progress: Progress, vault: Vault | None = None) -> Bootstrapped:
    """Create (or converge) the gateway role, its database and its vault item."""
    _check_dsn(admin_dsn)
    if not ROLE_RE.fullmatch(role) or role.startswith("pg_"):
        raise UsageError(f"invalid role name {role!r}: use lowercase letters, "
                         "digits and '_', starting with a letter, not pg_")
    vault = vault or open_vault(settings.vault)
    title = settings.cluster.admin.item
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            "cannot connect with --admin-dsn as the cluster's administrator; use "
            "peer authentication or ~/.pgpass for the password (never the DSN)"
        ) from exc
    with admin:
        created_role = _ensure_role(admin, vault, title, role, progress)
        created_db = _ensure_database(admin, settings.cluster.database, role,
                                      progress)
    return Bootstrapped(role, settings.cluster.database, title, created_role,
                        created_db)


def _check_dsn(dsn: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"--admin-dsn is not a libpq connection string: {exc}"
                         ) from None
    if "password" in params:
        raise UsageError("--admin-dsn must not hold a password (it would be in "
                         "argv); use peer authentication or ~/.pgpass")


def _ensure_role(admin: psycopg.Connection[Any], vault: Vault, title: str,
                 role: str, progress: Progress) -> bool:
    exists = admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s",
                           (role,)).fetchone()
    if exists and exists[0]:
        raise UsageError(f"role {role} is a superuser; the gateway's role must "
                         "not be one: choose another --role")
    try:
        vault.create_item(title, {"username": role, "password": generate_password()})
        progress(f"stored the gateway's login in vault item {title}")
    except ItemExistsError:
        item = vault.get_item(title)
        if item.text("username") != role:
            raise UsageError(
                f"vault item {title} is the login of role {item.text('username')}, "
                f"not {role}; pass --role {item.text('username')}") from None
        if exists:
            progress(f"role {role} and vault item {title} already exist")
            return False
    password = vault.get_item(title).get("password")
    try:
        _set_role(admin, role, password, create=not exists)
    except psycopg.Error as exc:
        if not exists:
            vault.delete_item(title)
        raise DatabaseError(f"cannot create role {role}: "
                            f"{exc.diag.message_primary}") from exc
    progress(f"{'created' if not exists else 'reset the password of'} role {role} "
             "(LOGIN CREATEROLE, not superuser)")
    return not exists


def _set_role(admin: psycopg.Connection[Any], role: str, secret: Secret,
              *, create: bool) -> None:
    verifier = admin.pgconn.encrypt_password(
        secret.reveal_bytes(), role.encode(), b"scram-sha-256").decode()
    verb = "CREATE" if create else "ALTER"
    admin.execute(sql.SQL(verb + " ROLE {} WITH LOGIN CREATEROLE PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier)))


def _ensure_database(admin: psycopg.Connection[Any], database: str, role: str,
                     progress: Progress) -> bool:
    row = admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                        "WHERE datname = %s", (database,)).fetchone()
    if row is None:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(database), sql.Identifier(role)))
        progress(f"created database {database} owned by {role}")
        return True
    if row[0] != role:
        raise UsageError(
            f"database {database} exists and is owned by {row[0]}; the gateway "
            f"needs to own it: ALTER DATABASE {database} OWNER TO {role}, or "
            "name another database in the gateway's settings")
    progress(f"database {database} already owned by {role}")
    return False
