"""Resolve op:// references against the vaults the manifest configures.

A reference's vault segment picks the backend: a `[vault.NAME]` profile whose
`vault` setting matches it (1Password), or a local or OpenBao vault by its
`name` setting (default `local`, `openbao`). Failing those, the segment may
name a profile itself, so `op://local/...` in a committed .env keeps working
when `[vault.local]` is switched to another backend: the reference is then
read from that backend's vault. References are grouped per vault
and each backend's `resolve` is called once: fifty references cost one batch
per vault.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from vaultgate.errors import (
    AmbiguousError,
    ConfigError,
    NotFoundError,
    VaultError,
)
from vaultgate.reference import Reference
from vaultgate.secret import Secret

if TYPE_CHECKING:
    from vaultgate.config import Manifest
    from vaultgate.vaults.base import Vault

__all__ = ["Resolver", "database_url", "resolve"]

LOCAL_BACKEND = "local"
# Backends named by their `name` setting (default shown); the 1Password
# backends answer to their `vault` setting, the 1Password vault's name.
_NAMED_BACKENDS = {LOCAL_BACKEND: "local", "openbao": "openbao"}


@dataclass(frozen=True)
class _Profile:
    name: str
    settings: Mapping[str, Any]


class Resolver:
    """Maps vault segments to backends, opening each backend on first use.

    `opener` builds a backend from a profile's settings (default: open_vault).
    """

    def __init__(self, manifest: Manifest,
                 opener: Callable[[Mapping[str, Any]], Vault] | None = None) -> None:
        self._manifest = manifest
        self._opener = opener
        self._by_segment = _profiles_by_segment(manifest)
        self._open: dict[str, Vault] = {}

    def vault_for(self, ref: Reference) -> Vault:
        """Return the backend that holds `ref`, or a ConfigError/NotFoundError."""
        segment = ref.vault.lower()
        profiles = self._by_segment.get(segment)
        if not profiles:
            raise NotFoundError(
                f"vault {ref.vault!r} named by {ref} is not configured "
                f"({self._known()}); fix the reference or add a [vault.NAME] "
                f"profile with vault = {ref.vault!r} to {self._where()}"
            )
        if len(profiles) > 1:
            names = " and ".join(f"[vault.{p.name}]" for p in profiles)
            raise ConfigError(
                f"vault {ref.vault!r} named by {ref} matches {names} in "
                f"{self._where()}; give each profile a distinct vault"
            )
        if segment not in self._open:
            self._open[segment] = self._opener_fn()(profiles[0].settings)
        return self._open[segment]

    def resolve(
        self, refs: Sequence[Reference], labels: Sequence[str] | None = None
    ) -> list[Secret]:
        """Resolve refs in order, one `resolve` call per vault.

        `labels` name each reference in error messages (e.g. `DB_URL=op://...`).
        """
        shown = list(labels) if labels is not None else [str(r) for r in refs]
        groups: dict[int, list[int]] = {}
        vaults: dict[int, Vault] = {}
        refs = [self._canonical(ref) for ref in refs]
        for index, ref in enumerate(refs):
            vault = _named(shown[index], lambda r=ref: self.vault_for(r))
            vaults.setdefault(id(vault), vault)
            groups.setdefault(id(vault), []).append(index)

        out: dict[int, Secret] = {}
        for key, indexes in groups.items():
            values = self._batch(vaults[key], [refs[i] for i in indexes],
                                 [shown[i] for i in indexes])
            out.update(zip(indexes, values, strict=True))
        return [out[index] for index in range(len(refs))]

    def _batch(
        self, vault: Vault, refs: list[Reference], shown: list[str]
    ) -> list[Secret]:
        unique = list(dict.fromkeys(refs))
        try:
            values = dict(zip(unique, vault.resolve(unique), strict=True))
        except (NotFoundError, AmbiguousError):
            # Find which reference failed so the message can name it; this
            # costs extra round trips only on the error path.
            for ref, label in zip(refs, shown, strict=True):
                _named(label, lambda r=ref: vault.resolve([r]))
            raise
        except VaultError as exc:
            raise type(exc)(f"cannot resolve {_list(shown)}: {exc}") from exc
        return [values[ref] for ref in refs]

    def _canonical(self, ref: Reference) -> Reference:
        """The reference as its backend names it (a profile alias rewritten)."""
        profiles = self._by_segment.get(ref.vault.lower(), [])
        if len(profiles) != 1:
            return ref
        segment = _segment(profiles[0].settings)
        if segment is None or segment.lower() == ref.vault.lower():
            return ref
        return dataclasses.replace(ref, vault=segment)

    def _opener_fn(self) -> Callable[[Mapping[str, Any]], Vault]:
        if self._opener is not None:
            return self._opener
        from vaultgate.vaults import open_vault

        return open_vault

    def _known(self) -> str:
        known = sorted({_segment(p.settings) or ""
                        for ps in self._by_segment.values() for p in ps})
        return "configured vaults: " + ", ".join(repr(k) for k in known)

    def _where(self) -> str:
        path = self._manifest.path
        return str(path) if path is not None else "vaultgate.toml"


def resolve(
    refs: Sequence[Reference],
    labels: Sequence[str] | None = None,
    manifest: Manifest | None = None,
) -> list[Secret]:
    """Resolve references with the nearest manifest (or the embedded default)."""
    if not refs:
        return []
    if manifest is None:
        from vaultgate import config

        manifest = config.load()
    return Resolver(manifest).resolve(refs, labels)


def database_url(
    host: str, port: int | str, database: str, username: str, secret: Secret
) -> Secret:
    """Return a postgresql:// URL with every part percent-encoded, as a Secret."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    user = quote(username, safe="")
    encoded = quote(secret.reveal(), safe="")
    name = quote(database, safe="")
    return Secret(f"postgresql://{user}:{encoded}@{host}:{int(port)}/{name}")


def _profiles_by_segment(manifest: Manifest) -> dict[str, list[_Profile]]:
    profiles = dict(manifest.vaults)
    profiles.setdefault(LOCAL_BACKEND, {"backend": LOCAL_BACKEND})
    out: dict[str, list[_Profile]] = {}
    for name, settings in profiles.items():
        segment = _segment(settings)
        if segment is not None:
            out.setdefault(segment.lower(), []).append(_Profile(name, settings))
    for name, settings in profiles.items():
        # A profile's own name answers too, unless a vault already goes by it.
        if _segment(settings) is not None and name.lower() not in out:
            out[name.lower()] = [_Profile(name, settings)]
    return out


def _segment(settings: Mapping[str, Any]) -> str | None:
    """The vault segment a profile answers to, without opening the backend."""
    backend = settings.get("backend", LOCAL_BACKEND)
    if backend in _NAMED_BACKENDS:
        return str(settings.get("name") or _NAMED_BACKENDS[backend])
    vault = settings.get("vault")
    return str(vault) if vault else None


def _named(label: str, call: Any) -> Any:
    """Run call(); re-raise a vault error with `label` at the front."""
    try:
        return call()
    except (VaultError, ConfigError) as exc:
        raise type(exc)(f"cannot resolve {label}: {exc}") from exc


def _list(labels: Sequence[str]) -> str:
    unique = list(dict.fromkeys(labels))
    if len(unique) <= 3:
        return ", ".join(unique)
    return ", ".join(unique[:3]) + f" and {len(unique) - 3} more"

