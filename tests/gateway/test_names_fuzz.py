"""Hostile names: thousands at the validators, a few hundred at the real gateway.
None reaches SQL: invalid ones get 400 and leave no role or schema."""

from __future__ import annotations

import re

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.gateway_process import RunningGateway
from vaultgate.client import GatewayClient
from vaultgate.errors import GatewayError, InvalidNameError
from vaultgate.names import Target, validate_env, validate_project

HOSTILE_PARTS = [
    "'", '"', ";", "--", "/*", "\x00", " ", "\t", "\n", "DROP ROLE postgres",
    "pg_", "select", "user", "public", "\u0430", "\uff41", "\u0131", "\u212a",
    "a" * 64, "é", "$$", "\\", "%s", "{}", "owner", "_", "-", "A",
]
hostile = st.lists(st.sampled_from(HOSTILE_PARTS) | st.text(max_size=8),
                   min_size=1, max_size=5).map("".join)
names = hostile | st.from_regex(r"[a-z][a-z0-9_]{0,40}", fullmatch=True)
SAFE = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)


def accepted(validate: object, name: str) -> str | None:
    try:
        return validate(name)  # type: ignore[operator]
    except InvalidNameError:
        return None


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(names, names)
def test_validators_accept_only_the_grammar(project: str, env: str) -> None:
    p, e = accepted(validate_project, project), accepted(validate_env, env)
    if p is not None:
        assert SAFE.fullmatch(p) and len(p.encode()) <= 30
        assert not p.startswith("pg_")
    if e is not None:
        assert SAFE.fullmatch(e) and "_" not in e
    if p is not None and e is not None:
        target = Target.of(p, e)
        rendered = sql.SQL("CREATE SCHEMA {}").format(
            sql.Identifier(target.schema)).as_string(None)
        assert rendered == f'CREATE SCHEMA "{target.schema}"'
        assert len(target.owner_role.encode()) <= 63


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(project=names, env=names, route=st.sampled_from(
    ["/v1/provision", "/v1/password", "/v1/login-check"]))
def test_gateway_refuses_hostile_names_with_400(pg15_gateway: RunningGateway,
                                                project: str, env: str,
                                                route: str) -> None:
    if accepted(validate_project, project) and accepted(validate_env, env):
        return
    body = {"project": project, "env": env, "reference": "op://local/x"}
    with pytest.raises(GatewayError) as err:
        _client(pg15_gateway).post(route, body)
    assert err.value.status == 400
    assert "invalid" in str(err.value)


def test_the_hostile_names_left_no_schema_or_role(pg15_gateway: RunningGateway
                                                  ) -> None:
    """Runs after the fuzz above (same module gateway): nothing it sent stuck."""
    schemas, _ = footprint(pg15_gateway)
    assert all(SAFE.fullmatch(s) for s in schemas), schemas
    gateway_role = pg15_gateway.vault.get_item("vaultgate-gateway-db").text(
        "username")
    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres",
                         dbname="postgres") as conn:
        made = conn.execute(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r "
            "ON r.oid IN (m.roleid, m.member) JOIN pg_roles g ON g.oid = m.grantor "
            "WHERE g.rolname = %s", (gateway_role,)).fetchall()
    assert all(SAFE.fullmatch(r[0]) for r in made), made


_CLIENTS: dict[str, GatewayClient] = {}


def _client(gw: RunningGateway) -> GatewayClient:
    # One keep-alive client for the whole fuzz run: thousands of requests.
    if gw.url not in _CLIENTS:
        _CLIENTS[gw.url] = GatewayClient(gw.url, gw.key)
    return _CLIENTS[gw.url]


def footprint(gw: RunningGateway) -> tuple[set[str], int]:
    """Schemas in the gateway's database, and role grants the gateway made."""
    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres",
                         dbname=gw.database) as conn:  # type: ignore[attr-defined]
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        user = gw.vault.get_item("vaultgate-gateway-db").text("username")
        row = conn.execute("SELECT count(*) FROM pg_auth_members m JOIN pg_roles g "
                           "ON g.oid = m.grantor WHERE g.rolname = %s",
                           (user,)).fetchone()
    return schemas, int(row[0]) if row else 0
