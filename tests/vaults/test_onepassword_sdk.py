"""The service-account SDK backend: one batch call, usable inside an event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vaultgate.errors import ConfigError
from vaultgate.reference import parse
from vaultgate.secret import generate_password
from vaultgate.vaults import open_vault


def fields() -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": "5432", "database": "app",
            "username": "u", "password": generate_password()}


def test_fifty_references_are_one_resolve_all_call(op_sdk: Any) -> None:
    for n in range(10):
        op_sdk.open().create_item(f"app{n}-dev", fields())
    refs = [parse(f"op://Dev/app{n}-dev/{f}") for n in range(10)
            for f in ("host", "port", "database", "username", "password")]
    before = len(op_sdk.core.invocations)
    values = op_sdk.open().resolve(refs)
    assert len(values) == 50
    assert op_sdk.core.invocations[before:] == ["SecretsResolveAll"]


def test_backend_works_from_inside_a_running_event_loop(op_sdk: Any) -> None:
    op_sdk.open().create_item("billing-dev", fields())

    async def handler() -> str:
        return op_sdk.open().get_item("billing-dev").title

    assert asyncio.run(handler()) == "billing-dev"


def test_profile_needs_the_service_account_token(monkeypatch: Any) -> None:
    monkeypatch.delenv("OP_SERVICE_ACCOUNT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="OP_SERVICE_ACCOUNT_TOKEN"):
        open_vault({"backend": "op-sdk", "vault": "Dev"})
