"""The audit trail: every request leaves a hash-chained row; verify finds edits."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.gateway.conftest import _drop, _gateway_database
from tests.gateway.test_gateway_pg15 import new_project, provision
from tests.gateway_process import RunningGateway, start_gateway
from vaultgate.errors import GatewayError


@pytest.fixture
def audited(tmp_path) -> Iterator[RunningGateway]:  # type: ignore[no-untyped-def]
    """A fresh gateway and database per test, so each test owns its chain."""
    role, database, password = _gateway_database(secrets.token_hex(4))
    gateway = start_gateway(tmp_path / "gw", host="127.0.0.1", port=5432,
                            database=database, admin_user=role,
                            admin_secret=password)
    gateway.database = database  # type: ignore[attr-defined]
    try:
        yield gateway
    finally:
        gateway.stop()
        _drop(database, role)


def superuser(gw: RunningGateway) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=5432, user="postgres",
                           dbname=gw.database, autocommit=True)  # type: ignore


def rows(gw: RunningGateway) -> list[tuple]:
    with superuser(gw) as conn:
        return conn.execute("SELECT id, key_id, operation, project, env, status, "
                            "steps::text FROM vaultgate.audit ORDER BY id").fetchall()


def verify(gw: RunningGateway) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", "audit", "verify", "--config",
         str(gw.config_path), "--json"], capture_output=True, text=True, timeout=60)


def test_accepted_and_refused_requests_are_recorded(audited: RunningGateway) -> None:
    project = new_project()
    provision(audited, project)
    httpx.post(audited.url + "/v1/provision", json={"project": project})
    recorded = rows(audited)
    accepted = [r for r in recorded if r[5] == 200]
    refused = [r for r in recorded if r[5] == 401]
    assert accepted[0][1:5] == (audited.key.key_id, "provision", project, "dev")
    assert "CREATE SCHEMA" in accepted[0][6]
    assert refused and refused[-1][1:5] == (None, "provision", None, None)


def test_audit_rows_hold_no_password_or_verifier(audited: RunningGateway) -> None:
    project = new_project()
    provision(audited, project)
    password = audited.vault.get_item(f"{project}-dev").text("password")
    text = json.dumps(rows(audited), default=str)
    assert password not in text
    assert "SCRAM-SHA-256$4096" not in text


def test_verify_passes_on_an_intact_chain(audited: RunningGateway) -> None:
    provision(audited, new_project())
    httpx.post(audited.url + "/v1/target", content=b"{}")
    result = verify(audited)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["rows"] >= 2


@pytest.mark.parametrize("tamper, broken", [
    ("UPDATE vaultgate.audit SET status = 500 WHERE id = {second}", 1),
    ("UPDATE vaultgate.audit SET steps = '[]' WHERE id = {first}", 0),
    ("UPDATE vaultgate.audit SET project = 'other' WHERE id = {second}", 1),
    ("DELETE FROM vaultgate.audit WHERE id = {second}", 2),
])
def test_verify_detects_an_edited_or_deleted_row(audited: RunningGateway,
                                                 tamper: str, broken: int) -> None:
    for _ in range(2):
        provision(audited, new_project())
    httpx.post(audited.url + "/v1/provision", content=b"{}")
    ids = [r[0] for r in rows(audited)]
    with superuser(audited) as conn:
        conn.execute(tamper.format(first=ids[0], second=ids[1]))
    result = verify(audited)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["broken_row"] == ids[broken]


def test_failed_plan_leaves_a_refusal_row_and_no_accepted_row(
        audited: RunningGateway) -> None:
    project = new_project()
    with pytest.raises(GatewayError):
        provision(audited, project, extensions=["plpython3u"])
    statuses = [r[5] for r in rows(audited) if r[3] == project]
    assert statuses == [400]


def _logged_anchor(gw: RunningGateway) -> str:
    messages = [json.loads(line)["msg"] for line in gw.log_text().splitlines()
                if "audit row " in line]
    row_id, digest = messages[-1].split()[2:4]
    return f"{row_id}:{digest}"


def _verify_with(gw: RunningGateway, anchor: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", "audit", "verify", "--config",
         str(gw.config_path), "--anchor", anchor, "--json"],
        capture_output=True, text=True, timeout=60)


def test_the_logged_anchor_matches_the_chain_head(audited: RunningGateway) -> None:
    provision(audited, new_project())
    anchor = _logged_anchor(audited)
    result = _verify_with(audited, anchor)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert f"{report['head_id']}:{report['head_hash']}" == anchor


@pytest.mark.parametrize("tamper", [
    "DELETE FROM vaultgate.audit WHERE id >= {anchor_id}",
    "TRUNCATE vaultgate.audit",
])
def test_an_anchor_detects_deleted_newest_rows(audited: RunningGateway,
                                               tamper: str) -> None:
    provision(audited, new_project())
    provision(audited, new_project())
    anchor = _logged_anchor(audited)
    assert verify(audited).returncode == 0
    with superuser(audited) as conn:
        conn.execute(tamper.format(anchor_id=int(anchor.split(":")[0])))
    assert verify(audited).returncode == 0  # the chain alone cannot tell
    result = _verify_with(audited, anchor)
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False


def test_a_malformed_anchor_is_a_usage_error(audited: RunningGateway) -> None:
    result = _verify_with(audited, "not-an-anchor")
    assert result.returncode == 2
    assert "ID:HASH" in result.stderr
