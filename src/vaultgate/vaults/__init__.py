"""Vault backends behind one protocol; `open_vault` picks one from settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vaultgate.errors import ConfigError
from vaultgate.vaults.base import Item, ItemExistsError, Vault

__all__ = ["Item", "ItemExistsError", "Vault", "open_vault"]

BACKENDS = ("local", "op", "op-sdk", "op-connect", "openbao")


# backend -> (module, class, the pip extra that installs its library)
_BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "local": ("vaultgate.vaults.local", "LocalVault", None),
    "op": ("vaultgate.vaults.onepassword_cli", "OnePasswordCliVault", None),
    "op-sdk": ("vaultgate.vaults.onepassword_sdk", "OnePasswordSdkVault",
               "onepassword"),
    "op-connect": ("vaultgate.vaults.onepassword_connect",
                   "OnePasswordConnectVault", None),
    "openbao": ("vaultgate.vaults.openbao", "OpenBaoVault", "openbao"),
}


def open_vault(settings: Mapping[str, Any]) -> Vault:
    """Build a vault backend from a profile's settings (imported lazily)."""
    import importlib

    backend = settings.get("backend", "local")
    if backend not in _BACKENDS:
        raise ConfigError(
            f"unknown vault backend {backend!r}; use one of: {', '.join(BACKENDS)}"
        )
    module_name, class_name, extra = _BACKENDS[backend]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if extra is None:
            raise
        raise ConfigError(
            f"vault backend {backend!r} needs a library that is not installed "
            f"({exc.name}); run: pip install 'vaultgate[{extra}]'") from exc
    vault: Vault = getattr(module, class_name).from_settings(settings)
    return vault
