"""`vaultgate gateway bootstrap`: a cluster set up for a gateway with nobody
typing a password; then the gateway provisions with that login."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

from tests.gateway.conftest import _drop, pg15_admin
from tests.gateway.test_gateway_pg15 import new_project, provision
from tests.gateway_process import (
    RunningGateway,
    free_port,
    key_fields,
    new_key,
    spawn_gateway,
)
from vaultgate.vaults.local import LocalVault

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def settings_file(folder: Path, database: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "gateway.toml"
    config.write_text(
        f'listen_host = "127.0.0.1"\nlisten_port = {free_port()}\n'
        'extensions = ["citext"]\n'
        f'[vault]\nbackend = "local"\npath = "{folder}/vault.enc"\n'
        f'key_file = "{folder}/vault.key"\nname = "local"\n'
        f'[cluster]\nhost = "127.0.0.1"\nport = 5432\ndatabase = "{database}"\n'
        'admin = "op://local/vaultgate-gateway-db"\n'
        '[signing]\nkeys = ["op://local/vaultgate-signing-key"]\n')
    return config


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vaultgate", *args],
                          capture_output=True, text=True, timeout=60)


def test_bootstrap_then_the_gateway_provisions_as_that_role(tmp_path: Path) -> None:
    suffix = secrets.token_hex(4)
    role, database = f"vg_boot_{suffix}", f"vg_bootdb_{suffix}"
    config = settings_file(tmp_path / "gw", database)
    try:
        first = cli("gateway", "bootstrap", "--config", str(config), "--admin-dsn",
                    ADMIN_DSN, "--role", role, "--json")
        assert first.returncode == 0, first.stderr
        again = cli("gateway", "bootstrap", "--config", str(config), "--admin-dsn",
                    ADMIN_DSN, "--role", role)
        assert again.returncode == 0 and "already" in again.stderr
        vault = LocalVault(tmp_path / "gw" / "vault.enc", tmp_path / "gw" / "vault.key")
        password = vault.get_item("vaultgate-gateway-db").text("password")
        assert password not in first.stdout + first.stderr
        with pg15_admin() as conn:
            row = conn.execute("SELECT rolsuper, rolcreaterole, rolcanlogin FROM "
                               "pg_roles WHERE rolname = %s", (role,)).fetchone()
        assert row == (False, True, True)
        key = new_key()
        vault.create_item("vaultgate-signing-key", key_fields(key))
        gateway = _start(config, vault, key, tmp_path)
        try:
            project = new_project()
            assert provision(gateway, project)["role"] == f"{project}_dev"
        finally:
            gateway.stop()
    finally:
        _drop(database, role)


def test_a_dsn_with_a_password_is_refused(tmp_path: Path) -> None:
    config = settings_file(tmp_path / "gw", "unused")
    dsn = ADMIN_DSN + " password=" + secrets.token_urlsafe(8)
    run = cli("gateway", "bootstrap", "--config", str(config), "--admin-dsn", dsn)
    assert run.returncode == 2
    assert "must not hold a password" in run.stderr
    assert dsn.split("password=")[1] not in run.stderr


def test_a_superuser_role_is_refused(tmp_path: Path) -> None:
    config = settings_file(tmp_path / "gw", "unused")
    run = cli("gateway", "bootstrap", "--config", str(config), "--admin-dsn",
              ADMIN_DSN, "--role", "postgres")
    assert run.returncode == 2 and "superuser" in run.stderr
    assert not (tmp_path / "gw" / "vault.enc").exists()


def _start(config: Path, vault: LocalVault, key: object,
           tmp_path: Path) -> RunningGateway:
    port = int(config.read_text().split("listen_port = ")[1].split()[0])
    return spawn_gateway(config, port, tmp_path / "gateway.log", vault,
                         key)  # type: ignore[arg-type]



def test_keys_new_creates_the_first_key_once_and_never_prints_it(
        vaultgate_home: Path) -> None:
    import json

    made = cli("keys", "new", "--scope-operations", "provision,target", "--json")
    assert made.returncode == 0, made.stderr
    vault = LocalVault(vaultgate_home / "vault" / "vault.enc",
                       vaultgate_home / "vault" / "vault.key")
    item = vault.get_item("vaultgate-signing-key")
    assert json.loads(made.stdout)["key_id"] == item.text("key_id")
    assert item.text("key") not in made.stdout + made.stderr
    assert len(item.text("key")) >= 43  # 32 bytes, base64url
    assert item.text("operations") == "provision,target"
    again = cli("keys", "new")
    assert again.returncode == 2 and "keys rotate" in again.stderr
    assert vault.get_item("vaultgate-signing-key").text("key") == item.text("key")
