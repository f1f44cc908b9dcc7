"""The OpenBao KV v2 backend against a real `bao server -dev` started here."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hvac
import pytest

from tests.openbao_server import RunningOpenBao, start_openbao
from vaultgate.errors import (
    ConfigError,
    InvalidNameError,
    NotFoundError,
    VaultError,
    VaultUnavailableError,
)
from vaultgate.reference import parse
from vaultgate.secret import Secret, generate_password
from vaultgate.vaults import Vault, open_vault
from vaultgate.vaults.base import ItemExistsError
from vaultgate.vaults.openbao import ItemChangedError, OpenBaoVault


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOpenBao]:
    server = start_openbao(Path(tmp_path_factory.mktemp("bao")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(bao: RunningOpenBao) -> hvac.Client:
    """A root client, to look behind the backend and to set up mounts."""
    return hvac.Client(url=bao.addr, token=bao.token.reveal())


@pytest.fixture
def prefix() -> str:
    return f"vg-{secrets.token_hex(4)}"


@pytest.fixture
def vault(bao: RunningOpenBao, prefix: str) -> OpenBaoVault:
    return OpenBaoVault(bao.addr, bao.token, path_prefix=prefix, name="team")


def credential(given: Secret | None = None) -> dict[str, Any]:
    value = given or generate_password()
    return {"host": "127.0.0.1", "port": "5432", "database": "app",
            "username": "billing_dev", "password": value}


def revealed(fields: dict[str, Any]) -> dict[str, str]:
    return {k: v.reveal() if isinstance(v, Secret) else v for k, v in fields.items()}


def stored(admin: hvac.Client, path: str) -> dict[str, Any]:
    return dict(admin.secrets.kv.v2.read_secret_version(
        path, mount_point="secret", raise_on_deleted_version=True)["data"])


def test_open_vault_builds_it_with_the_token_from_the_environment(
        bao: RunningOpenBao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAO_TOKEN", bao.token.reveal())
    vault = open_vault({"backend": "openbao", "addr": bao.addr, "name": "team"})
    assert isinstance(vault, OpenBaoVault) and isinstance(vault, Vault)
    assert (vault.name, vault.mount, vault.path_prefix) == ("team", "secret",
                                                            "vaultgate")


def test_a_token_in_the_settings_file_is_refused(bao: RunningOpenBao) -> None:
    with pytest.raises(ConfigError, match="BAO_TOKEN"):
        OpenBaoVault.from_settings({"addr": bao.addr, "token": "x"},
                                   environ={"BAO_TOKEN": bao.token.reveal()})


def test_no_token_in_the_environment_is_a_config_error(bao: RunningOpenBao) -> None:
    with pytest.raises(ConfigError, match="set BAO_TOKEN"):
        OpenBaoVault.from_settings({"addr": bao.addr}, environ={})


def test_vault_token_is_accepted_too(bao: RunningOpenBao, prefix: str) -> None:
    vault = OpenBaoVault.from_settings(
        {"path_prefix": prefix},
        environ={"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token.reveal()})
    vault.create_item("a-dev", credential())
    assert vault.get_item("a-dev").text("host") == "127.0.0.1"


def test_create_stores_a_kv2_secret_with_the_fields_as_keys(
        vault: OpenBaoVault, admin: hvac.Client, prefix: str) -> None:
    fields = credential()
    created = vault.create_item("billing-dev", fields)
    data = stored(admin, f"{prefix}/billing-dev")
    assert data["data"] == revealed(fields)
    assert data["metadata"]["version"] == 1
    assert created.id == f"secret/{prefix}/billing-dev at {vault.addr}"


def test_create_then_get_returns_the_same_fields(vault: OpenBaoVault) -> None:
    fields = credential()
    vault.create_item("billing-dev", fields)
    item = vault.get_item("billing-dev")
    assert (item.vault, item.title) == ("team", "billing-dev")
    assert {k: v.reveal() for k, v in item.fields.items()} == revealed(fields)
    assert fields["password"].reveal() not in repr(item)


def test_titles_are_case_insensitive(vault: OpenBaoVault) -> None:
    vault.create_item("billing-dev", credential())
    assert vault.get_item("Billing-Dev").title == "billing-dev"


def test_create_of_an_existing_item_fails_and_keeps_it(vault: OpenBaoVault) -> None:
    first = credential()
    vault.create_item("billing-dev", first)
    with pytest.raises(ItemExistsError, match="billing-dev"):
        vault.create_item("billing-dev", credential())
    assert vault.get_item("billing-dev").get("password") == first["password"]


def test_concurrent_creates_let_exactly_one_win(vault: OpenBaoVault) -> None:
    candidates = [credential() for _ in range(8)]

    def create(fields: dict[str, Any]) -> bool:
        try:
            vault.create_item("race-dev", fields)
            return True
        except ItemExistsError:
            return False

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(create, candidates))
    assert won.count(True) == 1
    winner = candidates[won.index(True)]
    assert vault.get_item("race-dev").get("password") == winner["password"]


def test_update_writes_one_new_version_with_all_fields_replaced(
        vault: OpenBaoVault, admin: hvac.Client, prefix: str) -> None:
    vault.create_item("billing-dev", {**credential(), "password_pending": "x"})
    new = credential()
    vault.update_item("billing-dev", new)
    data = stored(admin, f"{prefix}/billing-dev")
    assert data["metadata"]["version"] == 2
    assert data["data"] == revealed(new)


def test_concurrent_updates_never_overwrite_silently(
        vault: OpenBaoVault, admin: hvac.Client, prefix: str) -> None:
    vault.create_item("billing-dev", credential())

    def update(_: int) -> bool:
        try:
            vault.update_item("billing-dev", credential())
            return True
        except ItemChangedError:
            return False

    with ThreadPoolExecutor(8) as pool:
        applied = sum(pool.map(update, range(8)))
    assert applied >= 1
    assert stored(admin, f"{prefix}/billing-dev")["metadata"]["version"] == 1 + applied


def test_missing_items_are_not_found(vault: OpenBaoVault) -> None:
    with pytest.raises(NotFoundError, match="'nope-dev' not found.*provision"):
        vault.get_item("nope-dev")
    with pytest.raises(NotFoundError):
        vault.update_item("nope-dev", credential())
    with pytest.raises(NotFoundError):
        vault.delete_item("nope-dev")


def test_delete_removes_every_version(vault: OpenBaoVault) -> None:
    vault.create_item("billing-dev", credential())
    vault.update_item("billing-dev", credential())
    vault.delete_item("billing-dev")
    with pytest.raises(NotFoundError):
        vault.get_item("billing-dev")
    vault.create_item("billing-dev", credential())


def test_a_soft_deleted_latest_version_reads_as_not_found(
        vault: OpenBaoVault, admin: hvac.Client, prefix: str) -> None:
    vault.create_item("billing-dev", credential())
    admin.secrets.kv.v2.delete_latest_version_of_secret(
        f"{prefix}/billing-dev", mount_point="secret")
    with pytest.raises(NotFoundError, match="is deleted"):
        vault.get_item("billing-dev")
    with pytest.raises(NotFoundError, match="is deleted"):
        vault.update_item("billing-dev", credential())


def test_resolve_reads_each_item_once(vault: OpenBaoVault) -> None:
    a, b = credential(), credential()
    vault.create_item("a-dev", a)
    vault.create_item("b-dev", b)
    refs = [parse("op://team/a-dev/password"), parse("op://team/b-dev/password"),
            parse("op://team/a-dev/username")]
    values = vault.resolve(refs)
    assert values == [a["password"], b["password"], Secret("billing_dev")]


@pytest.mark.parametrize("title", ["../admin", "a/b", "", ".hidden", "a b"])
def test_titles_that_are_not_one_path_segment_are_refused(
        vault: OpenBaoVault, title: str) -> None:
    with pytest.raises(InvalidNameError, match="path segment"):
        vault.create_item(title, credential())


def test_unreachable_server_names_the_address_and_the_fix(bao: RunningOpenBao
                                                          ) -> None:
    from tests.gateway_process import free_port

    addr = f"http://127.0.0.1:{free_port()}"
    vault = OpenBaoVault(addr, bao.token, timeout=2)
    with pytest.raises(VaultUnavailableError) as err:
        vault.get_item("billing-dev")
    assert addr in str(err.value) and "start it" in str(err.value)


def test_a_bad_token_is_refused_without_echoing_it(bao: RunningOpenBao) -> None:
    token = Secret(secrets.token_urlsafe(24))
    with pytest.raises(VaultUnavailableError, match="BAO_TOKEN") as err:
        OpenBaoVault(bao.addr, token).get_item("billing-dev")
    assert token.reveal() not in str(err.value)


def test_a_token_limited_to_the_prefix_is_enough(
        bao: RunningOpenBao, admin: hvac.Client, prefix: str) -> None:
    policy = (f'path "secret/data/{prefix}/*" {{ capabilities = '
              '["create", "read", "update"] }\n'
              f'path "secret/metadata/{prefix}/*" {{ capabilities = '
              '["read", "delete"] }\n')
    admin.sys.create_or_update_policy(prefix, policy)
    token = admin.auth.token.create(policies=[prefix], ttl="5m")["auth"]
    vault = OpenBaoVault(bao.addr, Secret(token["client_token"]), path_prefix=prefix)
    vault.create_item("billing-dev", credential())
    vault.update_item("billing-dev", credential())
    vault.delete_item("billing-dev")
    other = OpenBaoVault(bao.addr, Secret(token["client_token"]), path_prefix="other")
    with pytest.raises(VaultUnavailableError, match="lacks a policy"):
        other.get_item("billing-dev")


def test_a_kv_version_1_mount_is_refused_before_any_write(
        bao: RunningOpenBao, admin: hvac.Client) -> None:
    mount = f"kv1-{secrets.token_hex(3)}"
    admin.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    vault = OpenBaoVault(bao.addr, bao.token, mount=mount)
    with pytest.raises(VaultUnavailableError, match="kv-v2"):
        vault.create_item("billing-dev", credential())
    with pytest.raises(hvac.exceptions.InvalidPath):
        admin.secrets.kv.v1.list_secrets("", mount_point=mount)


def test_a_missing_mount_is_unavailable_with_the_fix(bao: RunningOpenBao) -> None:
    vault = OpenBaoVault(bao.addr, bao.token, mount="nosuch")
    with pytest.raises(VaultUnavailableError, match="nosuch"):
        vault.get_item("billing-dev")


def test_errors_and_the_server_log_hold_no_secret(
        vault: OpenBaoVault, bao: RunningOpenBao) -> None:
    fields = credential()
    vault.create_item("billing-dev", fields)
    with pytest.raises(VaultError) as err:
        vault.create_item("billing-dev", fields)
    assert fields["password"].reveal() not in str(err.value)
    assert bao.token.reveal() not in bao.log_text()
    assert fields["password"].reveal() not in bao.log_text()
