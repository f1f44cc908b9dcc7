"""The op CLI backend: few calls, no secret in argv, the documented commands."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from vaultgate.errors import VaultUnavailableError
from vaultgate.reference import parse
from vaultgate.secret import generate_password
from vaultgate.vaults.onepassword_cli import OnePasswordCliVault


def fields() -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": "5432", "database": "app",
            "username": "u", "password": generate_password()}


def test_writes_pipe_a_template_and_never_use_assignments(op_cli: Any) -> None:
    vault = op_cli.open()
    vault.create_item("billing-dev", fields())
    vault.update_item("billing-dev", fields())
    writes = [a for a in op_cli.argv_log() if a[:2] in (["item", "create"],
                                                      ["item", "edit"])]
    assert [a[:2] for a in writes] == [["item", "create"], ["item", "edit"]]
    assert writes[0][-1] == "-"
    assert not any("=" in arg for argv in writes for arg in argv)


def test_many_references_cost_one_call_per_item(op_cli: Any) -> None:
    op_cli.open().create_item("billing-dev", fields())
    op_cli.open().create_item("orders-dev", fields())
    before = op_cli.requests()
    refs = [parse(f"op://Dev/{item}/{field}") for item in ("billing-dev", "orders-dev")
            for field in ("host", "port", "database", "username", "password")] * 5
    op_cli.open().resolve(refs)
    gets = op_cli.argv_log()[before:]
    assert len(gets) == 2 and all(a[:2] == ["item", "get"] for a in gets)


def test_missing_executable_is_a_clear_error(op_cli: Any) -> None:
    vault = OnePasswordCliVault("Dev", op_path="/nonexistent/op")
    with pytest.raises(VaultUnavailableError, match="install op"):
        vault.get_item("billing-dev")


def test_signed_out_op_is_a_clear_error(op_cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", "wrong")
    with pytest.raises(VaultUnavailableError, match="not signed in"):
        op_cli.open().get_item("billing-dev")


def test_profile_needs_a_vault_name() -> None:
    from vaultgate.errors import ConfigError
    from vaultgate.vaults import open_vault

    with pytest.raises(ConfigError, match='vault = "<1Password vault name>"'):
        open_vault({"backend": "op"})
    assert open_vault({"backend": "op", "vault": "Dev"}).name == "Dev"


# -- the stand-in itself follows the documented CLI -----------------------------

def op(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["op", *args], input=stdin, capture_output=True, text=True,
                          check=False)


def test_standin_read_and_inject_resolve_what_the_backend_wrote(op_cli: Any) -> None:
    values = fields()
    op_cli.open().create_item("billing-dev", values)
    password = values["password"].reveal()
    assert op("read", "op://dev/Billing-Dev/password").stdout == password + "\n"
    assert op("read", "-n", "op://Dev/billing-dev/server").stdout == "127.0.0.1"
    rendered = op("inject", stdin="pw={{ op://Dev/billing-dev/password }}\n")
    assert rendered.stdout == f"pw={password}\n"


def test_standin_get_conceals_without_reveal(op_cli: Any) -> None:
    values = fields()
    op_cli.open().create_item("billing-dev", values)
    out = op("item", "get", "billing-dev", "--vault", "Dev", "--format", "json")
    item = json.loads(out.stdout)
    password = next(f for f in item["fields"] if f["id"] == "password")
    assert password["value"].startswith("[use 'op item get")
    assert password["reference"] == "op://Dev/billing-dev/password"


def test_standin_errors_match_the_cli(op_cli: Any) -> None:
    missing = op("item", "get", "nope", "--vault", "Dev")
    assert missing.returncode == 1
    assert ('"nope" isn\'t an item in the "Dev" vault. Specify the item with its '
            "UUID, name, or domain.") in missing.stderr
    assert missing.stderr.startswith("[ERROR] ")
    vault = op("item", "get", "x", "--vault", "Nope")
    assert '"Nope" isn\'t a vault in this account.' in vault.stderr
    field = op("read", "op://Dev/nope/password")
    assert "could not read secret 'op://Dev/nope/password'" in field.stderr
    assert op("whoami").returncode == 0
