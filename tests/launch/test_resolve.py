"""References map to vaults through the manifest; one batch per vault."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg.conninfo
import pytest

from vaultgate.config import Manifest
from vaultgate.errors import ConfigError, NotFoundError, VaultUnavailableError
from vaultgate.reference import Reference, parse
from vaultgate.resolve import Resolver, database_url
from vaultgate.secret import Secret, generate_password
from vaultgate.vaults.local import LocalVault


class CountingVault:
    """A real local vault that counts resolve() calls."""

    def __init__(self, inner: LocalVault) -> None:
        self.inner = inner
        self.name = inner.name
        self.batches: list[int] = []

    def resolve(self, refs: Sequence[Reference]) -> list[Secret]:
        self.batches.append(len(refs))
        return self.inner.resolve(refs)


@pytest.fixture
def two_vaults(tmp_path: Path) -> tuple[Manifest, dict[str, CountingVault]]:
    profiles = {
        "mine": {"backend": "local", "name": "alpha",
                 "path": str(tmp_path / "a.enc")},
        "team": {"backend": "local", "name": "beta",
                 "path": str(tmp_path / "b.enc")},
    }
    opened: dict[str, CountingVault] = {}

    for settings in profiles.values():
        vault = LocalVault.from_settings(settings)
        for n in range(3):
            vault.create_item(f"app{n}-dev",
                              {"credential": generate_password(), "n": str(n)})

    def opener(settings: Mapping[str, Any]) -> CountingVault:
        vault = CountingVault(LocalVault.from_settings(settings))
        opened[vault.name] = vault
        return vault

    manifest = Manifest(tmp_path / "vaultgate.toml", vaults=profiles)
    return Resolver(manifest, opener=opener), opened  # type: ignore[return-value]


def test_each_vault_is_asked_once_for_all_its_references(two_vaults) -> None:
    resolver, opened = two_vaults
    refs = [parse(f"op://{v}/app{n}-dev/n") for n in range(3)
            for v in ("alpha", "beta", "Alpha")]
    values = resolver.resolve(refs)
    assert [v.reveal() for v in values] == [str(n) for n in range(3) for _ in range(3)]
    assert opened["alpha"].batches == [6]  # "Alpha" is the same vault
    assert opened["beta"].batches == [3]


def test_a_missing_item_names_the_label(two_vaults) -> None:
    resolver, _ = two_vaults
    refs = [parse("op://alpha/app0-dev/n"), parse("op://alpha/nope-dev/n")]
    with pytest.raises(NotFoundError) as caught:
        resolver.resolve(refs, ["A=op://alpha/app0-dev/n", "B=op://alpha/nope-dev/n"])
    assert str(caught.value).startswith("cannot resolve B=op://alpha/nope-dev/n:")


def test_an_unconfigured_vault_says_which_are(two_vaults) -> None:
    resolver, _ = two_vaults
    with pytest.raises(NotFoundError, match="'alpha', 'beta', 'local'"):
        resolver.resolve([parse("op://gamma/app0-dev/n")])


def test_two_profiles_for_one_vault_is_a_config_error(tmp_path) -> None:
    profiles = {"a": {"backend": "local"}, "b": {"backend": "local"}}
    resolver = Resolver(Manifest(tmp_path / "vaultgate.toml", vaults=profiles))
    with pytest.raises(ConfigError, match=r"\[vault.a\] and \[vault.b\]"):
        resolver.resolve([parse("op://local/x/y")])


def test_an_unreadable_vault_is_reported_for_the_references(tmp_path) -> None:
    settings = {"backend": "local", "path": str(tmp_path / "v.enc")}
    LocalVault.from_settings(settings).create_item("x-dev", {"k": "v"})
    (tmp_path / "v.key").unlink()
    resolver = Resolver(Manifest(None, vaults={"local": settings}))
    with pytest.raises(VaultUnavailableError, match="^cannot resolve K=op://local"):
        resolver.resolve([parse("op://local/x-dev/k")], ["K=op://local/x-dev/k"])


@pytest.mark.parametrize("host", ["127.0.0.1", "db.internal", "::1"])
def test_database_url_survives_every_url_delimiter(host: str) -> None:
    password = Secret(f"{secrets.token_urlsafe(8)}@/:#%?&= +ü{secrets.token_hex(4)}")
    url = database_url(host, 5432, "app db", "us@er", password)
    parts = psycopg.conninfo.conninfo_to_dict(url.reveal())
    assert parts["password"] == password.reveal()
    assert parts["user"] == "us@er"
    assert parts["dbname"] == "app db"
    assert parts["host"] == host
    assert str(parts["port"]) == "5432"
    assert password.reveal() not in repr(url)


def test_each_backend_answers_to_its_vault_segment(tmp_path) -> None:
    profiles = {
        "op": {"backend": "op", "vault": "Production"},
        "bao": {"backend": "openbao"},
        "bao2": {"backend": "openbao", "name": "Team"},
    }
    opened: list[Mapping[str, Any]] = []

    def opener(settings: Mapping[str, Any]) -> Any:
        opened.append(settings)
        raise VaultUnavailableError("not reachable in this test")

    resolver = Resolver(Manifest(None, vaults=profiles), opener=opener)
    for ref, profile in [("op://production/i/f", "op"), ("op://openbao/i/f", "bao"),
                         ("op://team/i/f", "bao2")]:
        with pytest.raises(VaultUnavailableError):
            resolver.resolve([parse(ref)])
        assert opened[-1] is profiles[profile]


def test_a_profile_name_answers_for_its_backend_vault(two_vaults) -> None:
    """op://mine/... reads vault 'alpha' of profile [vault.mine]: a committed
    reference keeps working when the profile moves to another backend."""
    resolver, opened = two_vaults
    by_alias = resolver.resolve([parse("op://mine/app1-dev/n")])
    by_name = resolver.resolve([parse("op://alpha/app1-dev/n")])
    assert by_alias[0].reveal() == by_name[0].reveal() == "1"
    assert opened["alpha"].batches == [1, 1]


def test_a_vault_name_wins_over_a_profile_name(tmp_path: Path) -> None:
    profiles = {
        "beta": {"backend": "local", "name": "alpha",
                 "path": str(tmp_path / "a.enc")},
        "other": {"backend": "local", "name": "beta",
                  "path": str(tmp_path / "b.enc")},
    }
    LocalVault.from_settings(profiles["other"]).create_item(
        "x-dev", {"n": "from-other"})
    resolver = Resolver(Manifest(tmp_path / "vaultgate.toml", vaults=profiles))
    assert resolver.resolve([parse("op://beta/x-dev/n")])[0].reveal() == "from-other"
