"""Vault backends behind one protocol; `open_vault` picks one from settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vaultgate.errors import ConfigError
from vaultgate.vaults.base import Item, ItemExistsError, Vault

__all__ = ["Item", "ItemExistsError", "Vault", "open_vault"]

BACKENDS = ("local", "op", "op-sdk", "op-connect", "openbao")


def open_vault(settings: Mapping[str, Any]) -> Vault:
    """Build a vault backend from a profile's settings (imported lazily)."""
    backend = settings.get("backend", "local")
    if backend == "local":
        from vaultgate.vaults.local import LocalVault

        return LocalVault.from_settings(settings)
    if backend == "op":
        from vaultgate.vaults.onepassword_cli import OnePasswordCliVault

        return OnePasswordCliVault.from_settings(settings)
    if backend == "op-sdk":
        from vaultgate.vaults.onepassword_sdk import OnePasswordSdkVault

        return OnePasswordSdkVault.from_settings(settings)
    if backend == "op-connect":
        from vaultgate.vaults.onepassword_connect import OnePasswordConnectVault

        return OnePasswordConnectVault.from_settings(settings)
    if backend == "openbao":
        from vaultgate.vaults.openbao import OpenBaoVault

        return OpenBaoVault.from_settings(settings)
    raise ConfigError(
        f"unknown vault backend {backend!r}; use one of: {', '.join(BACKENDS)}"
    )
