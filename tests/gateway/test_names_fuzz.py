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


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(project=hostile)
def test_gateway_refuses_hostile_names_with_400(pg15_gateway: RunningGateway,
                                                project: str) -> None:
    if accepted(validate_project, project) is not None:
        return
    before = footprint(pg15_gateway)
    body = {"project": project, "env": "dev", "reference": "op://local/x"}
    with GatewayClient(pg15_gateway.url, pg15_gateway.key) as client:
        with pytest.raises(GatewayError) as err:
            client.post("/v1/provision", body)
    assert err.value.status == 400
    assert footprint(pg15_gateway) == before


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
