"""vaultgate.toml: the project manifest, committed, with no secret in it.

    project = "billing"
    extensions = ["citext"]

    [env.dev]                 # the embedded default: local vault, local stack
    vault = "local"
    gateway = "local"

    [env.prod]
    vault = "team"
    gateway = "https://gateway.internal:8443"

    [vault.team]
    backend = "op"            # a vault profile: backend and its settings
    vault = "Production"

Environments differ only in which vault and which gateway they use.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaultgate.errors import ConfigError
from vaultgate.names import validate_env, validate_project

MANIFEST = "vaultgate.toml"
LOCAL = "local"
DEFAULT_ENV = "dev"


@dataclass(frozen=True)
class Environment:
    name: str
    vault: Mapping[str, Any]
    gateway: str
    signing_key: str | None = None

    @property
    def is_local_gateway(self) -> bool:
        return self.gateway == LOCAL


@dataclass(frozen=True)
class Manifest:
    path: Path | None
    project: str | None = None
    extensions: tuple[str, ...] = ()
    envs: Mapping[str, Environment] = field(default_factory=dict)
    vaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def environment(self, name: str) -> Environment:
        validate_env(name)
        if name in self.envs:
            return self.envs[name]
        if self.path is None or not self.envs:
            return Environment(name, {"backend": LOCAL}, LOCAL)
        known = ", ".join(sorted(self.envs)) or "none"
        raise ConfigError(
            f"environment {name!r} is not defined in {self.path} (defined: "
            f"{known}); add an [env.{name}] table"
        )

    def vault_profile(self, name: str) -> Mapping[str, Any]:
        if name == LOCAL and name not in self.vaults:
            return {"backend": LOCAL}
        if name not in self.vaults:
            raise ConfigError(
                f"vault profile {name!r} is not defined in {self.path}; "
                f"add a [vault.{name}] table with a backend"
            )
        return self.vaults[name]


def find_manifest(start: Path | None = None) -> Path | None:
    """Return the nearest vaultgate.toml from start upwards, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / MANIFEST
        if candidate.is_file():
            return candidate
    return None


def load(path: Path | None = None) -> Manifest:
    """Load the manifest at path, or the nearest one, or the embedded default."""
    path = path or find_manifest()
    if path is None:
        return Manifest(None)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return _parse(Path(path), data)


def _parse(path: Path, data: Mapping[str, Any]) -> Manifest:
    unknown = set(data) - {"project", "extensions", "env", "vault"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    project = data.get("project")
    if project is not None:
        validate_project(project)
    extensions = data.get("extensions", [])
    if not isinstance(extensions, list) or not all(
            isinstance(e, str) for e in extensions):
        raise ConfigError(f"{path}: extensions must be a list of names")
    vaults = _tables(path, data.get("vault", {}), "vault")
    for name, profile in vaults.items():
        if "backend" not in profile:
            raise ConfigError(f"{path}: [vault.{name}] needs a backend")
    envs = {}
    for name, table in _tables(path, data.get("env", {}), "env").items():
        validate_env(name)
        vault_name = table.get("vault", LOCAL)
        gateway = table.get("gateway", LOCAL)
        signing_key = table.get("signing_key")
        if not all(isinstance(v, str) for v in (vault_name, gateway)) or not (
                signing_key is None or isinstance(signing_key, str)):
            raise ConfigError(
                f"{path}: [env.{name}] vault, gateway and signing_key are strings")
        unknown_keys = set(table) - {"vault", "gateway", "signing_key"}
        if unknown_keys:
            raise ConfigError(
                f"{path}: [env.{name}] has unknown key(s) "
                f"{', '.join(sorted(unknown_keys))}")
        if gateway == LOCAL and vault_name != LOCAL:
            raise ConfigError(
                f"{path}: [env.{name}] uses the local gateway, which reads the "
                "local vault; set vault = \"local\" or name a remote gateway")
        manifest = Manifest(path, vaults=vaults)
        profile = dict(manifest.vault_profile(vault_name))
        envs[name] = Environment(name, profile, gateway, signing_key)
    return Manifest(path, project, tuple(extensions), envs, vaults)


def _tables(path: Path, value: Any, kind: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(value, dict) or not all(
            isinstance(v, dict) for v in value.values()):
        raise ConfigError(f"{path}: [{kind}.NAME] entries must be tables")
    return value
