"""Gateway settings: a TOML file with references, never secrets.

    listen_host = "127.0.0.1"
    listen_port = 8787
    extensions = ["citext", "hstore", "pg_trgm"]   # the allowlist
    max_body = 65536
    [vault]                       # where the gateway reads passwords and keys
    backend = "local"
    [cluster]                     # the target cluster
    host = "127.0.0.1"
    port = 5432
    database = "app"
    admin = "op://local/vaultgate-gateway-db"     # item: username, password
    [signing]
    keys = ["op://local/vaultgate-signing-key"]   # items: key_id, key
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaultgate import reference
from vaultgate.errors import ConfigError
from vaultgate.reference import Reference

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class ClusterSettings:
    host: str
    port: int
    database: str
    admin: Reference


@dataclass(frozen=True)
class GatewaySettings:
    listen_host: str
    listen_port: int
    extensions: frozenset[str]
    vault: Mapping[str, Any]
    cluster: ClusterSettings
    signing_keys: tuple[Reference, ...]
    max_body: int = 65536
    pool_min: int = 1
    pool_max: int = 8


def load(path: Path) -> GatewaySettings:
    """Read and validate gateway settings; ConfigError names what is wrong."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read gateway settings {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"gateway settings {path} are not valid TOML: {exc}") from exc
    return parse(data, str(path))


def parse(data: Mapping[str, Any],
          where: str = "gateway settings") -> GatewaySettings:
    cluster = _table(data, "cluster", where)
    signing = _table(data, "signing", where)
    keys = signing.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where}: [signing] keys must list one or more references")
    extensions = data.get("extensions", [])
    if not isinstance(extensions, list) or not all(
            isinstance(e, str) for e in extensions):
        raise ConfigError(f"{where}: extensions must be a list of extension names")
    return GatewaySettings(
        listen_host=_str(data, "listen_host", where, "127.0.0.1"),
        listen_port=_int(data, "listen_port", where, 8787),
        extensions=frozenset(extensions),
        vault=_table(data, "vault", where),
        cluster=ClusterSettings(
            host=_str(cluster, "host", where),
            port=_int(cluster, "port", where, 5432),
            database=_str(cluster, "database", where),
            admin=_ref(cluster, "admin", where),
        ),
        signing_keys=tuple(reference.parse(k, require_field=False) for k in keys),
        max_body=_int(data, "max_body", where, 65536),
        pool_min=_int(data, "pool_min", where, 1),
        pool_max=_int(data, "pool_max", where, 8),
    )


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a [{key}] table is required")
    return value


def _str(data: Mapping[str, Any], key: str, where: str,
         default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string")
    return value


def _int(data: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: {key} must be a non-negative integer")
    return value


def _ref(data: Mapping[str, Any], key: str, where: str) -> Reference:
    value = _str(data, key, where)
    return reference.parse(value, require_field=False)
