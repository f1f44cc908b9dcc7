"""Every 1Password backend against its stand-in: one behaviour, three transports."""

from __future__ import annotations

from typing import Any

import pytest

from vaultgate.errors import AmbiguousError, NotFoundError, VaultUnavailableError
from vaultgate.reference import parse
from vaultgate.secret import Secret, generate_password
from vaultgate.vaults import Vault
from vaultgate.vaults._onepassword import Backoff
from vaultgate.vaults.base import ItemExistsError

FAST = Backoff(attempts=4, first_delay=0.0, max_delay=0.0)


def credential(given: Secret | None = None) -> dict[str, Any]:
    value = given or generate_password()
    return {"host": "127.0.0.1", "port": "5432", "database": "app",
            "username": "billing_dev_login", "password": value,
            "url": Secret(f"postgresql://billing_dev_login:{value.reveal()}"
                          "@127.0.0.1:5432/app")}


def test_backend_implements_the_vault_protocol(onepassword: Any) -> None:
    vault = onepassword.open()
    assert isinstance(vault, Vault)
    assert vault.name == "Dev"


def test_create_then_get_returns_the_same_fields(onepassword: Any) -> None:
    fields = credential()
    onepassword.open().create_item("billing-dev", fields)
    item = onepassword.open().get_item("billing-dev")
    assert item.title == "billing-dev" and item.id
    assert {k: v.reveal() for k, v in item.fields.items()} == {
        k: v.reveal() if isinstance(v, Secret) else v for k, v in fields.items()}


def test_item_uses_the_database_category_and_builtin_fields(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    raw = onepassword.raw("billing-dev")
    assert raw["category"].upper() == "DATABASE"
    by_id = {f["id"]: f for f in raw["fields"]}
    assert by_id["hostname"]["label"] == "server"
    assert by_id["database_type"]["value"] == "postgresql"
    assert by_id["password"]["type"].upper() == "CONCEALED"
    assert by_id["url"]["type"].upper() == "CONCEALED"
    assert by_id["username"]["type"].upper() in ("STRING", "TEXT")


def test_update_replaces_all_fields_in_one_write(onepassword: Any) -> None:
    vault = onepassword.open()
    fields = credential()
    vault.create_item("billing-dev", fields)
    pending = generate_password()
    vault.update_item("billing-dev", {**fields, "password_pending": pending})
    assert onepassword.open().get_item("billing-dev").get("password_pending") == pending
    vault.update_item("billing-dev", {**fields, "password": pending})
    item = onepassword.open().get_item("billing-dev")
    assert item.get("password") == pending
    assert not item.has("password_pending")


def test_update_keeps_the_item_id(onepassword: Any) -> None:
    vault = onepassword.open()
    created = vault.create_item("billing-dev", credential())
    updated = vault.update_item("billing-dev", credential())
    assert updated.id == created.id


def test_delete_removes_the_item(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    onepassword.open().delete_item("billing-dev")
    with pytest.raises(NotFoundError, match="billing-dev"):
        onepassword.open().get_item("billing-dev")


def test_create_refuses_an_existing_title(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    with pytest.raises(ItemExistsError, match="(?i)billing-dev"):
        onepassword.open().create_item("Billing-Dev", credential())


def test_titles_match_case_insensitively(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    assert onepassword.open().get_item("BILLING-DEV").title == "billing-dev"


def test_item_can_be_named_by_its_id(onepassword: Any) -> None:
    created = onepassword.open().create_item("billing-dev", credential())
    assert onepassword.open().get_item(created.id).title == "billing-dev"
    assert onepassword.open().get_item(created.id.upper()).title == "billing-dev"


def test_batch_resolve_returns_values_in_reference_order(onepassword: Any) -> None:
    vault = onepassword.open()
    dev, other = credential(), credential()
    vault.create_item("billing-dev", dev)
    vault.create_item("orders-dev", other)
    refs = [parse(t) for t in (
        "op://Dev/billing-dev/password", "op://dev/ORDERS-DEV/Password",
        "op://Dev/billing-dev/host", "op://Dev/billing-dev/server",
        "op://Dev/billing-dev/vaultgate/url", "op://Dev/orders-dev/username",
        "op://Dev/billing-dev/password?attribute=type")]
    values = [s.reveal() for s in onepassword.open().resolve(refs)]
    assert values == [dev["password"].reveal(), other["password"].reveal(),
                      "127.0.0.1", "127.0.0.1", dev["url"].reveal(),
                      "billing_dev_login", "concealed"]


def test_duplicate_titles_are_ambiguous_and_named_by_id(onepassword: Any) -> None:
    created = onepassword.open().create_item("billing-dev", credential())
    other_id = onepassword.add_duplicate("billing-dev")
    with pytest.raises(AmbiguousError) as exc:
        onepassword.open().get_item("billing-dev")
    assert created.id in str(exc.value) and other_id in str(exc.value)
    with pytest.raises(AmbiguousError, match=other_id):
        onepassword.open().resolve([parse("op://Dev/billing-dev/password")])


def test_missing_item_is_not_found(onepassword: Any) -> None:
    with pytest.raises(NotFoundError, match="'nope'.*'Dev'"):
        onepassword.open().get_item("nope")
    with pytest.raises(NotFoundError, match="nope"):
        onepassword.open().resolve([parse("op://Dev/nope/password")])


def test_missing_field_is_not_found(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    with pytest.raises(NotFoundError, match="no field 'colour'"):
        onepassword.open().resolve([parse("op://Dev/billing-dev/colour")])
    with pytest.raises(NotFoundError, match="section 'nosuch'"):
        onepassword.open().resolve([parse("op://Dev/billing-dev/nosuch/password")])


def test_reference_to_another_vault_is_not_found(onepassword: Any) -> None:
    with pytest.raises(NotFoundError, match="Prod"):
        onepassword.open().resolve([parse("op://Prod/billing-dev/password")])


def test_missing_vault_is_not_found(onepassword: Any) -> None:
    onepassword.vault_name = "Nowhere"
    with pytest.raises(NotFoundError, match="vault 'Nowhere' not found"):
        onepassword.open(backoff=FAST).get_item("billing-dev")


def test_rate_limit_is_retried_then_succeeds(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    onepassword.rate_limit(2)
    sleeps: list[float] = []
    item = onepassword.open(backoff=FAST, sleep=sleeps.append).get_item("billing-dev")
    assert item.title == "billing-dev"
    assert len(sleeps) == 2


def test_rate_limit_that_persists_is_a_clear_error(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    onepassword.rate_limit(100)
    with pytest.raises(VaultUnavailableError, match="rate limit after 4 attempts"):
        onepassword.open(backoff=FAST, sleep=lambda _: None).get_item("billing-dev")


def test_no_secret_in_any_error_or_recorded_request(onepassword: Any) -> None:
    fields = credential()
    vault = onepassword.open()
    vault.create_item("billing-dev", fields)
    pending = generate_password()
    vault.update_item("billing-dev", {**fields, "password_pending": pending})
    vault.resolve([parse("op://Dev/billing-dev/password")])
    errors = []
    for text in ("op://Dev/billing-dev/nope", "op://Dev/nope/password"):
        with pytest.raises(NotFoundError) as exc:
            onepassword.open().resolve([parse(text)])
        errors.append(str(exc.value))
    password = fields["password"].reveal()
    assert not any(password in e for e in errors)
    assert not onepassword.leaked(password)


def test_lookups_are_cached_for_the_life_of_the_backend(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    vault = onepassword.open()
    vault.get_item("billing-dev")
    before = onepassword.requests()
    vault.get_item("billing-dev")
    vault.resolve([parse("op://Dev/billing-dev/password"),
                   parse("op://Dev/billing-dev/username")])
    assert onepassword.requests() == before


def test_token_is_never_in_a_recorded_request(onepassword: Any) -> None:
    onepassword.open().create_item("billing-dev", credential())
    assert not onepassword.leaked(onepassword.token)

