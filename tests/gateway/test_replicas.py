"""Two gateway replicas share one replay store: a nonce spent on one is spent
on both; expired nonces are purged."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.gateway.conftest import _drop, _gateway_database
from tests.gateway.test_gateway_pg15 import make_item, roles_like
from tests.gateway_process import (
    RunningGateway,
    free_port,
    spawn_gateway,
    start_gateway,
)
from vaultgate.gateway import db
from vaultgate.names import Target
from vaultgate.signing import sign_request


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    role, database, password = _gateway_database(secrets.token_hex(4))
    first = start_gateway(tmp_path / "a", host="127.0.0.1", port=5432,
                          database=database, admin_user=role,
                          admin_secret=password)
    # The second replica: same settings, same vault and key, another port.
    port = free_port()
    config = tmp_path / "b.toml"
    config.write_text(first.config_path.read_text().replace(
        f"listen_port = {first.url.rsplit(':', 1)[1]}", f"listen_port = {port}"))
    second = spawn_gateway(config, port, tmp_path / "b.log", first.vault, first.key)
    second.database = first.database = database  # type: ignore[attr-defined]
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()
        _drop(database, role)


def _signed(gw: RunningGateway, project: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"project": project, "env": "dev",
                       "reference": f"op://local/{project}-dev"}).encode()
    # Signed for the first replica's authority: a replay sends the same bytes.
    return body, sign_request("POST", gw.url + "/v1/provision", body, gw.key)


def test_a_request_accepted_by_one_replica_is_a_replay_on_the_other(
        replicas: tuple[RunningGateway, RunningGateway]) -> None:
    first, second = replicas
    project = f"t{secrets.token_hex(5)}"
    make_item(first, Target.of(project, "dev"))
    body, headers = _signed(first, project)
    assert httpx.post(first.url + "/v1/provision", content=body,
                      headers=headers).status_code == 200
    # Same Host header as signed, delivered to the other replica's port.
    replay = httpx.post(second.url + "/v1/provision", content=body,
                        headers={**headers, "host": first.url.split("//")[1]})
    assert replay.status_code == 401
    assert "nonce replayed" in second.log_text()  # not a signature failure
    assert roles_like(project) == {f"{project}_dev", f"{project}_dev_owner"}


def test_expired_nonces_are_purged_and_live_ones_kept(
        replicas: tuple[RunningGateway, RunningGateway]) -> None:
    first, _ = replicas
    database = first.database  # type: ignore[attr-defined]
    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres",
                         dbname=database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO vaultgate.nonces VALUES ('k', 'old', now() - interval "
            "'1 hour'), ('k', 'live', now() + interval '1 minute')")
        conn.execute(db.PURGE)
        left = {r[0] for r in conn.execute(
            "SELECT nonce FROM vaultgate.nonces WHERE key_id = 'k'").fetchall()}
    assert left == {"live"}
