"""The SQL plan for one (project, env): schema, owner role, login role, grants,
extensions. Every statement is idempotent, so re-running the plan converges.

The plan is sent as one multi-statement query: one round trip, one implicit
transaction, all or nothing. Identifiers go through psycopg.sql.Identifier and
values through psycopg.sql.Literal; names were validated before (names.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from vaultgate.names import Target

# The comment that marks a role as created, and so managed, by vaultgate.
MANAGED = "vaultgate-managed"
# Shown in place of the SCRAM verifier in the steps a client sees.
VERIFIER_SHOWN = "SCRAM-SHA-256$<verifier computed by the gateway>"


@dataclass(frozen=True)
class Plan:
    """Statements to run (with the verifier) and to show (without it)."""

    run: tuple[sql.Composable, ...]
    shown: tuple[sql.Composable, ...]

    def query(self) -> sql.Composed:
        return sql.SQL(";\n").join(self.run) + sql.SQL(";")


def provision_plan(target: Target, verifier: str, extensions: Sequence[str],
                   database: str, server_version: int) -> Plan:
    """The full plan: roles, schema, grants, settings and extensions."""
    return Plan(
        tuple(_statements(target, verifier, extensions, database, server_version)),
        tuple(_statements(target, VERIFIER_SHOWN, extensions, database,
                          server_version)),
    )


def password_plan(target: Target, verifier: str) -> Plan:
    """Only set the login role's password (rotation's second step)."""
    def build(value: str) -> tuple[sql.Composable, ...]:
        return (_lock(target), _require_managed(target.login_role),
                _set_password(target.login_role, value))

    return Plan(build(verifier), build(VERIFIER_SHOWN))


def _statements(target: Target, verifier: str, extensions: Sequence[str],
                database: str, server_version: int) -> list[sql.Composable]:
    owner, login = target.owner_role, target.login_role
    schema = sql.Identifier(target.schema)
    steps: list[sql.Composable] = [
        _lock(target),
        _create_role(owner, login=False),
        _create_role(login, login=True),
        _set_password(login, verifier),
        _grant_to_self(owner, server_version),
        sql.SQL("GRANT {} TO {}").format(sql.Identifier(owner), sql.Identifier(login)),
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
            schema, sql.Identifier(owner)),
        sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, sql.Identifier(owner)),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema),
        _grant_connect(owner, database),
        # Objects the app creates belong to the owner role, not to one login role,
        # so a second login role (or a rotation scheme with two) can use them.
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET role = {}").format(
            sql.Identifier(login), sql.Identifier(database), sql.Literal(owner)),
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = {}, public").format(
            sql.Identifier(login), sql.Identifier(database),
            sql.Identifier(target.schema)),
    ]
    steps.extend(_create_extension(name) for name in sorted(set(extensions)))
    return steps


# Catalog rows shared by every target (the database's ACL, pg_extension) are
# changed only when needed and under one cluster-wide lock: two concurrent
# GRANTs on one database fail with "tuple concurrently updated" otherwise.
_SHARED_LOCK = "PERFORM pg_advisory_xact_lock(hashtext('vaultgate:shared'))"


def _grant_connect(owner: str, database: str) -> sql.Composable:
    grant = sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
        sql.Identifier(database), sql.Identifier(owner))
    check = sql.SQL(
        "has_database_privilege({}, {}, 'CONNECT') AND "
        "has_database_privilege({}, {}, 'TEMPORARY')").format(
        sql.Literal(owner), sql.Literal(database),
        sql.Literal(owner), sql.Literal(database))
    return _do_unless(check, grant)


def _create_extension(name: str) -> sql.Composable:
    create = sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public").format(
        sql.Identifier(name))
    check = sql.SQL("EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = {})"
                    ).format(sql.Literal(name))
    return _do_unless(check, create)


def _do_unless(check: sql.Composable, action: sql.Composable) -> sql.Composable:
    body = sql.SQL("BEGIN IF NOT ({}) THEN " + _SHARED_LOCK + "; {}; END IF; END"
                   ).format(check, action)
    return sql.SQL("DO {}").format(_Deferred(body))


def _lock(target: Target) -> sql.Composable:
    # Serialises concurrent plans for the same target inside the transaction.
    key = f"vaultgate:{target.project}:{target.env}"
    return sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
        sql.Literal(key))


def _create_role(name: str, *, login: bool) -> sql.Composable:
    create = sql.SQL("CREATE ROLE {} {}; COMMENT ON ROLE {} IS {}").format(
        sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN"),
        sql.Identifier(name), sql.Literal(MANAGED))
    # A role vaultgate did not create is never taken over: its password and
    # attributes belong to someone else (PostgreSQL 15's CREATEROLE could).
    refuse = sql.SQL("RAISE EXCEPTION USING ERRCODE = 'duplicate_object', "
                     "MESSAGE = {}").format(sql.Literal(
                         f"role {name} already exists and was not created by "
                         "vaultgate; choose another project name"))
    # DO takes its body as a string literal: the inner statements are composed
    # (identifiers quoted) and then quoted again as a whole with Literal.
    body = sql.SQL(
        "DECLARE r oid; BEGIN "
        "SELECT oid INTO r FROM pg_catalog.pg_roles WHERE rolname = {}; "
        "IF r IS NULL THEN {}; "
        "ELSIF coalesce(pg_catalog.shobj_description(r, 'pg_authid'), '') <> {} "
        "THEN {}; END IF; END").format(
        sql.Literal(name), create, sql.Literal(MANAGED), refuse)
    return sql.SQL("DO {}").format(_Deferred(body))


def _require_managed(name: str) -> sql.Composable:
    body = sql.SQL(
        "BEGIN IF coalesce((SELECT pg_catalog.shobj_description(oid, 'pg_authid') "
        "FROM pg_catalog.pg_roles WHERE rolname = {}), '') <> {} THEN "
        "RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = {}; "
        "END IF; END").format(
        sql.Literal(name), sql.Literal(MANAGED), sql.Literal(
            f"role {name} does not exist or was not created by vaultgate; "
            "provision the project first"))
    return sql.SQL("DO {}").format(_Deferred(body))


def _set_password(role: str, verifier: str) -> sql.Composable:
    return sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier))


def _grant_to_self(owner: str, server_version: int) -> sql.Composable:
    # CREATE SCHEMA ... AUTHORIZATION needs the gateway to be able to SET ROLE to
    # the owner. From PostgreSQL 16 a CREATEROLE creator holds only ADMIN OPTION,
    # so membership (with SET and INHERIT) is granted explicitly.
    if server_version >= 160000:
        return sql.SQL("GRANT {} TO CURRENT_USER WITH INHERIT TRUE, SET TRUE").format(
            sql.Identifier(owner))
    return sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(owner))


class _Deferred(sql.Composable):
    """A composable rendered as a string literal of another composable."""

    def __init__(self, inner: sql.Composable) -> None:
        super().__init__(inner)

    def as_bytes(self, context: Any = None) -> bytes:
        text = self._obj.as_bytes(context).decode("utf-8")
        return sql.Literal(text).as_bytes(context)
