"""The Connect backend: token from the environment, clear errors, few requests."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from vaultgate.errors import ConfigError, VaultUnavailableError
from vaultgate.reference import parse
from vaultgate.secret import Secret, generate_password
from vaultgate.vaults import open_vault
from vaultgate.vaults.onepassword_connect import OnePasswordConnectVault


def fields() -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": "5432", "database": "app",
            "username": "u", "password": generate_password()}


def test_profile_reads_host_and_token_from_the_environment(op_connect: Any) -> None:
    vault = open_vault(op_connect.settings())
    vault.create_item("billing-dev", fields())
    assert vault.get_item("billing-dev").title == "billing-dev"


def test_missing_environment_is_a_config_error(monkeypatch: Any) -> None:
    monkeypatch.delenv("OP_CONNECT_HOST", raising=False)
    monkeypatch.delenv("OP_CONNECT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="OP_CONNECT_HOST"):
        open_vault({"backend": "op-connect", "vault": "Dev"})
    monkeypatch.setenv("OP_CONNECT_HOST", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="OP_CONNECT_TOKEN"):
        open_vault({"backend": "op-connect", "vault": "Dev"})


def test_wrong_token_is_refused_clearly(op_connect: Any) -> None:
    wrong = Secret(generate_password().reveal())
    vault = OnePasswordConnectVault("Dev", host=op_connect.url, token=wrong)
    with pytest.raises(VaultUnavailableError, match="refused the token") as exc:
        vault.get_item("billing-dev")
    assert wrong.reveal() not in str(exc.value)


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vault = OnePasswordConnectVault("Dev", host=f"http://127.0.0.1:{port}",
                                    token=Secret("t" * 20))
    with pytest.raises(VaultUnavailableError, match="cannot reach"):
        vault.get_item("billing-dev")


def test_batch_resolve_fetches_each_item_once(op_connect: Any) -> None:
    op_connect.open().create_item("billing-dev", fields())
    vault = op_connect.open()
    before = op_connect.requests()
    vault.resolve([parse(f"op://Dev/billing-dev/{f}")
                   for f in ("host", "port", "database", "username", "password")])
    # the vault list, the item list, then the one item
    assert op_connect.requests() - before == 3
