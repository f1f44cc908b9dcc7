"""Signing keys the gateway accepts, read from vault items.

An item holds `key_id` and `key` (base64url of at least 32 random bytes) and
may hold a scope (`envs`, `operations`: comma-separated) and a validity period
(`not_before`, `not_after`: unix seconds). The ring reloads from the vault when
it meets an unknown key id, at most once per RELOAD_SECONDS, so a key rotated
in the vault is picked up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from vaultgate.errors import ConfigError, VaultError
from vaultgate.reference import Reference
from vaultgate.signing import SigningKey
from vaultgate.vaults.base import Item, Vault

log = logging.getLogger("vaultgate.gateway.keys")
RELOAD_SECONDS = 5.0


def key_from_item(item: Item) -> SigningKey:
    """Build a SigningKey from a vault item's fields."""
    def optional(name: str) -> str | None:
        return item.text(name) if item.has(name) and item.text(name) else None

    def scope(name: str) -> frozenset[str] | None:
        text = optional(name)
        if not text:
            return None
        return frozenset(p.strip() for p in text.split(",") if p.strip())

    def moment(name: str) -> float | None:
        text = optional(name)
        try:
            return float(text) if text else None
        except ValueError as exc:
            raise ConfigError(
                f"field {name!r} of signing key item {item.title!r} must be unix "
                "seconds") from exc

    return SigningKey(key_id=item.text("key_id"), secret=item.get("key"),
                      envs=scope("envs"), operations=scope("operations"),
                      not_before=moment("not_before"), not_after=moment("not_after"))


class KeyRing:
    """Key lookup by key id for the Verifier, backed by vault items."""

    def __init__(self, vault: Vault, refs: Sequence[Reference]) -> None:
        self._vault = vault
        self._refs = tuple(refs)
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def load(self) -> None:
        keys: dict[str, SigningKey] = {}
        for ref in self._refs:
            item = self._vault.get_item(ref.item)
            for key in keys_in(item):
                keys[key.key_id] = key
        self._keys = keys
        self._loaded_at = time.monotonic()

    def get(self, key_id: str) -> SigningKey | None:
        key = self._keys.get(key_id)
        if key is None and time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            with self._lock:
                try:
                    self.load()
                except VaultError as exc:
                    log.warning("signing keys could not be reloaded: %s", exc)
                    self._loaded_at = time.monotonic()
            key = self._keys.get(key_id)
        return key


def keys_in(item: Item) -> list[SigningKey]:
    """The item's key, and its previous key (`previous_*` fields) if any."""
    keys = [key_from_item(item)]
    # During a key rotation the item also carries the previous key until its
    # not_after passes, so clients still signing with it are not cut off.
    if item.has("previous_key_id") and item.has("previous_key"):
        prev = {k[len("previous_"):]: v for k, v in item.fields.items()
                if k.startswith("previous_")}
        keys.append(key_from_item(Item(item.vault, item.title, prev, item.id)))
    return keys
