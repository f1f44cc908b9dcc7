"""The real gateway process on PostgreSQL 15, its own role not a superuser."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from tests.gateway.conftest import pg15_admin
from tests.gateway_process import RunningGateway
from vaultgate.client import GatewayClient
from vaultgate.errors import GatewayError
from vaultgate.names import Target
from vaultgate.secret import generate_password
from vaultgate.signing import sign_request


def new_project() -> str:
    return f"t{secrets.token_hex(5)}"


def make_item(gw: RunningGateway, target: Target) -> None:
    gw.vault.create_item(target.item_title, {
        "host": "127.0.0.1", "port": "5432", "database": "x",
        "username": target.login_role, "password": generate_password()})


def provision(gw: RunningGateway, project: str, **extra: object) -> dict:
    target = Target.of(project, "dev")
    make_item(gw, target)
    with GatewayClient(gw.url, gw.key) as client:
        return client.post("/v1/provision", {
            "project": project, "env": "dev", "extensions": [],
            "reference": f"op://local/{target.item_title}", **extra})


def roles_like(prefix: str) -> set[str]:
    with pg15_admin() as conn:
        rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                            (prefix + "%",)).fetchall()
    return {r[0] for r in rows}


def test_gateway_role_is_not_superuser(pg15_gateway: RunningGateway) -> None:
    item = pg15_gateway.vault.get_item("vaultgate-gateway-db")
    with pg15_admin() as conn:
        row = conn.execute("SELECT rolsuper, rolcreaterole FROM pg_roles "
                           "WHERE rolname = %s", (item.text("username"),)).fetchone()
    assert row == (False, True)


def test_provision_creates_schema_roles_and_settings(
        pg15_gateway: RunningGateway) -> None:
    project = new_project()
    result = provision(pg15_gateway, project, extensions=["citext"])
    assert result["schema"] == f"{project}_dev"
    assert any("CREATE SCHEMA" in s for s in result["steps"])
    assert not any("SCRAM-SHA-256$4096" in s for s in result["steps"])
    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres",
                         dbname=pg15_gateway.database) as conn:  # type: ignore
        owner = conn.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s",
            (f"{project}_dev",)).fetchone()
        member = conn.execute(
            "SELECT pg_has_role(%s, %s, 'MEMBER')",
            (f"{project}_dev", f"{project}_dev_owner")).fetchone()
        ext = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citext'"
                           ).fetchone()
    assert owner == (f"{project}_dev_owner",)
    assert member == (True,)
    assert ext == (1,)


def test_provision_twice_converges(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    provision(pg15_gateway, project)
    ref = f"op://local/{project}-dev"
    with GatewayClient(pg15_gateway.url, pg15_gateway.key) as client:
        again = client.post("/v1/provision", {"project": project, "env": "dev",
                                              "reference": ref})
    assert again["role"] == f"{project}_dev"
    assert roles_like(project) == {f"{project}_dev", f"{project}_dev_owner"}


def test_unsigned_request_is_refused_and_changes_nothing(
        pg15_gateway: RunningGateway) -> None:
    project = new_project()
    body = {"project": project, "env": "dev", "reference": f"op://local/{project}-dev"}
    response = httpx.post(pg15_gateway.url + "/v1/provision", json=body)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert roles_like(project) == set()


def test_replayed_request_is_refused(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    target = Target.of(project, "dev")
    make_item(pg15_gateway, target)
    url = pg15_gateway.url + "/v1/provision"
    body = json.dumps({"project": project, "env": "dev",
                       "reference": f"op://local/{target.item_title}"}).encode()
    headers = sign_request("POST", url, body, pg15_gateway.key)
    first = httpx.post(url, content=body, headers=headers)
    second = httpx.post(url, content=body, headers=headers)
    assert first.status_code == 200
    assert second.status_code == 401


def test_tampered_body_is_refused(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    url = pg15_gateway.url + "/v1/provision"
    body = json.dumps({"project": project, "env": "dev",
                       "reference": f"op://local/{project}-dev"}).encode()
    headers = sign_request("POST", url, body, pg15_gateway.key)
    tampered = body.replace(b'"dev"', b'"prod"')
    assert httpx.post(url, content=tampered, headers=headers).status_code == 401
    assert roles_like(project) == set()


@pytest.mark.parametrize("payload, fragment", [
    ({"project": "Bad-Name", "env": "dev"}, "invalid project name"),
    ({"project": "ok", "env": "prod;drop"}, "invalid environment name"),
    ({"project": "pg_x", "env": "dev"}, "reserved"),
])
def test_invalid_names_are_refused_with_400(pg15_gateway: RunningGateway,
                                            payload: dict, fragment: str) -> None:
    with GatewayClient(pg15_gateway.url, pg15_gateway.key) as client:
        with pytest.raises(GatewayError) as err:
            client.post("/v1/provision", {**payload, "reference": "op://local/x"})
    assert err.value.status == 400
    assert fragment in str(err.value)


def test_reference_to_another_item_is_refused(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    with GatewayClient(pg15_gateway.url, pg15_gateway.key) as client:
        with pytest.raises(GatewayError) as err:
            client.post("/v1/provision", {
                "project": project, "env": "dev",
                "reference": "op://local/vaultgate-gateway-db"})
    assert err.value.status == 400
    assert roles_like(project) == set()


def test_extension_off_the_allowlist_is_refused(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    with pytest.raises(GatewayError) as err:
        provision(pg15_gateway, project, extensions=["plpython3u"])
    assert "allowlist" in str(err.value)
    assert roles_like(project) == set()


def test_eight_projects_concurrently(pg15_gateway: RunningGateway) -> None:
    projects = [new_project() for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: provision(pg15_gateway, p), projects))
    assert [r["project"] for r in results] == projects


def test_same_project_twice_concurrently(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    target = Target.of(project, "dev")
    make_item(pg15_gateway, target)
    body = {"project": project, "env": "dev",
            "reference": f"op://local/{target.item_title}"}

    def call(_: int) -> dict:
        with GatewayClient(pg15_gateway.url, pg15_gateway.key) as client:
            return client.post("/v1/provision", body)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(call, range(2)))
    assert len(results) == 2
    assert roles_like(project) == {f"{project}_dev", f"{project}_dev_owner"}


def test_gateway_log_holds_no_password(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    provision(pg15_gateway, project)
    password = pg15_gateway.vault.get_item(f"{project}-dev").text("password")
    assert password not in pg15_gateway.log_text()
    assert "provisioned" in pg15_gateway.log_text()


def _password_hash(role: str) -> object:
    with pg15_admin() as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                           (role,)).fetchone()
    return row


@pytest.mark.parametrize("route", ["/v1/provision", "/v1/password"])
def test_a_role_vaultgate_did_not_create_is_never_taken_over(
        pg15_gateway: RunningGateway, route: str) -> None:
    project = new_project()
    role = f"{project}_dev"
    with pg15_admin() as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN CREATEDB')
    try:
        before = _password_hash(role)
        target = Target.of(project, "dev")
        make_item(pg15_gateway, target)
        with GatewayClient(pg15_gateway.url, pg15_gateway.key) as client:
            with pytest.raises(GatewayError) as err:
                client.post(route, {"project": project, "env": "dev",
                                    "reference": f"op://local/{target.item_title}"})
        assert err.value.status == 409
        assert "not created by vaultgate" in str(err.value)
        assert _password_hash(role) == before
        assert roles_like(project) == {role}
    finally:
        with pg15_admin() as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_provision_during_a_rotation_is_refused(pg15_gateway: RunningGateway) -> None:
    project = new_project()
    provision(pg15_gateway, project)
    title = f"{project}-dev"
    item = pg15_gateway.vault.get_item(title)
    pg15_gateway.vault.update_item(
        title, {**item.fields, "password_pending": generate_password()})
    before = _password_hash(f"{project}_dev")
    with GatewayClient(pg15_gateway.url, pg15_gateway.key) as client:
        with pytest.raises(GatewayError) as err:
            client.post("/v1/provision", {"project": project, "env": "dev",
                                          "reference": f"op://local/{title}"})
    assert err.value.status == 409 and "rotation" in str(err.value)
    assert _password_hash(f"{project}_dev") == before


def test_oversized_headers_get_431(pg15_gateway: RunningGateway) -> None:
    response = httpx.post(pg15_gateway.url + "/v1/provision", content=b"{}",
                          headers={"x-pad": "A" * 20_000})
    assert response.status_code == 431
