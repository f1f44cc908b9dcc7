"""Signing key rotation: both keys valid during the overlap, the old one refused
after it, the new one accepted by the running gateway without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.conftest import _drop, _gateway_database, wait_for_key_reload
from tests.gateway.test_battery import base_request, headers_of, new_target, send
from tests.gateway_process import RunningGateway, start_gateway
from vaultgate.gateway.keys import key_from_item, keys_in


@pytest.fixture
def rotating(tmp_path: Path) -> Iterator[RunningGateway]:
    import secrets

    role, database, password = _gateway_database(secrets.token_hex(4))
    gateway = start_gateway(tmp_path / "gw", host="127.0.0.1", port=5432,
                            database=database, admin_user=role,
                            admin_secret=password)
    gateway.database = database  # type: ignore[attr-defined]
    gateway.started = time.monotonic()  # type: ignore[attr-defined]
    (tmp_path / "vaultgate.toml").write_text(
        f'[vault.gw]\nbackend = "local"\npath = "{gateway.vault.path}"\n'
        f'key_file = "{gateway.vault.key_path}"\nname = "local"\n'
        f'[env.dev]\nvault = "gw"\ngateway = "{gateway.url}"\n')
    try:
        yield gateway
    finally:
        gateway.stop()
        _drop(database, role)


def keys_cli(gw: RunningGateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", "keys", *args, "--json"],
        capture_output=True, text=True, timeout=60,
        cwd=gw.vault.path.parent.parent, env=dict(os.environ))


def status_with(gw: RunningGateway, key: object) -> int:
    f = base_request(gw, new_target(gw), "/v1/provision", key=key)  # type: ignore
    return send(gw, f, headers_of(f)).status_code


def test_rotate_keeps_both_keys_valid_then_refuses_the_old_one(
        rotating: RunningGateway) -> None:
    old = rotating.key
    run = keys_cli(rotating, "rotate", "--overlap", "10")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["previous_key_id"] == old.key_id
    item = rotating.vault.get_item("vaultgate-signing-key")
    new = key_from_item(item)
    assert new.key_id == report["key_id"] != old.key_id
    assert [k.key_id for k in keys_in(item)] == [new.key_id, old.key_id]

    wait_for_key_reload(rotating.started)  # type: ignore[attr-defined]
    assert status_with(rotating, new) == 200
    assert status_with(rotating, old) == 200
    time.sleep(max(0.0, report["previous_not_after"] + 1.2 - time.time()))
    assert status_with(rotating, old) == 401
    assert status_with(rotating, new) == 200
    assert f"key {old.key_id} is no longer valid" in rotating.log_text()


def test_show_lists_key_ids_and_validity_never_the_key(
        rotating: RunningGateway) -> None:
    assert keys_cli(rotating, "rotate", "--overlap", "60").returncode == 0
    run = keys_cli(rotating, "show")
    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    item = rotating.vault.get_item("vaultgate-signing-key")
    assert [k["key_id"] for k in shown["keys"]] == [
        item.text("key_id"), item.text("previous_key_id")]
    assert shown["keys"][1]["not_after"] is not None
    for field in ("key", "previous_key"):
        assert item.text(field) not in run.stdout


def test_rotated_key_is_32_random_bytes(rotating: RunningGateway) -> None:
    from vaultgate.signing._keys import hmac_key

    assert keys_cli(rotating, "rotate").returncode == 0
    key = key_from_item(rotating.vault.get_item("vaultgate-signing-key"))
    assert len(hmac_key(key)) == 32
