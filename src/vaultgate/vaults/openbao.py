"""OpenBao (or HashiCorp Vault) KV version 2 as a vaultgate vault.

    [vault.team]
    backend = "openbao"
    addr = "https://bao.internal:8200"   # or BAO_ADDR / VAULT_ADDR
    mount = "secret"                     # a KV v2 secrets engine
    path_prefix = "vaultgate"
    name = "team"                        # the vault segment of op:// references

An item is the secret `<mount>/<path_prefix>/<title>`; its fields are the
secret's keys. The token comes from BAO_TOKEN or VAULT_TOKEN, never from the
settings file. Every write is a check-and-set: create with cas=0, update with
the version just read, so two writers never overwrite each other silently.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import hvac
import requests
from hvac import exceptions as hvac_errors

from vaultgate.errors import (
    ConfigError,
    InvalidNameError,
    NotFoundError,
    VaultError,
    VaultUnavailableError,
)
from vaultgate.reference import Reference
from vaultgate.secret import Secret
from vaultgate.vaults.base import (
    FieldValues,
    Item,
    ItemExistsError,
    as_secrets,
    resolve_from_items,
)

DEFAULT_NAME = "openbao"
DEFAULT_MOUNT = "secret"
DEFAULT_PREFIX = "vaultgate"
TOKEN_VARIABLES = ("BAO_TOKEN", "VAULT_TOKEN")
ADDR_VARIABLES = ("BAO_ADDR", "VAULT_ADDR")
# A title becomes one path segment: no slash, no dot segments, nothing to quote.
TITLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
CAS_MISMATCH = "check-and-set parameter did not match"

T = TypeVar("T")


class ItemChangedError(VaultError):
    """update_item lost a race: the item changed between the read and the write."""


class OpenBaoVault:
    """Items in a KV v2 engine of OpenBao or Vault; safe to share across threads."""

    def __init__(self, addr: str, token: Secret, *, mount: str = DEFAULT_MOUNT,
                 path_prefix: str = DEFAULT_PREFIX, name: str = DEFAULT_NAME,
                 timeout: float = 10.0, ca_cert: str | None = None) -> None:
        self.addr = addr.rstrip("/")
        self.mount = mount.strip("/")
        self.path_prefix = path_prefix.strip("/")
        self.name = name
        # requests.Session underneath: its connection pool is thread-safe, and
        # OpenBao sets no cookies, the one part of a Session that is not.
        self._client = hvac.Client(url=self.addr, token=token.reveal(),
                                   timeout=timeout, verify=ca_cert or True)
        self._mount_checked = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any],
                      environ: Mapping[str, str] = os.environ) -> OpenBaoVault:
        """Build from a [vault] table; the token is read from the environment."""
        if "token" in settings:
            raise ConfigError("vault settings must not hold a token; remove it and "
                              "set BAO_TOKEN in the environment instead")
        return cls(_addr(settings, environ), _token(environ),
                   mount=_text(settings, "mount", DEFAULT_MOUNT),
                   path_prefix=_text(settings, "path_prefix", DEFAULT_PREFIX),
                   name=_text(settings, "name", DEFAULT_NAME),
                   timeout=float(settings.get("timeout", 10.0)),
                   ca_cert=settings.get("ca_cert"))

    # -- the Vault protocol -------------------------------------------------

    def get_item(self, title: str) -> Item:
        path = self._path(title)
        response = self._call("read", title, lambda: self._kv.read_secret_version(
            path, mount_point=self.mount, raise_on_deleted_version=False))
        data = response["data"]
        if data.get("data") is None:
            raise NotFoundError(
                f"the latest version of item {title!r} in vault {self.name!r} "
                f"({self._where(path)}) is deleted; undelete it or provision again")
        return self._item(title, data["data"])

    def create_item(self, title: str, fields: FieldValues) -> Item:
        path = self._path(title)
        exists = ItemExistsError(
            f"item {title!r} already exists in vault {self.name!r} "
            f"({self._where(path)})")
        self._write(title, path, fields, cas=0, conflict=exists)
        return self._item(title, _plain(fields))

    def update_item(self, title: str, fields: FieldValues) -> Item:
        path = self._path(title)
        version = self._live_version(title, path)
        changed = ItemChangedError(
            f"item {title!r} in vault {self.name!r} changed while it was being "
            "updated; run the command again")
        self._write(title, path, fields, cas=version, conflict=changed)
        return self._item(title, _plain(fields))

    def delete_item(self, title: str) -> None:
        path = self._path(title)
        self._metadata(title, path)
        self._call("delete", title, lambda: self._kv.delete_metadata_and_all_versions(
            path, mount_point=self.mount))

    def resolve(self, refs: Sequence[Reference]) -> list[Secret]:
        return resolve_from_items(self, refs)

    # -- KV v2 -----------------------------------------------------------------

    @property
    def _kv(self) -> Any:
        if not self._mount_checked:
            self._check_mount()
        return self._client.secrets.kv.v2

    def _check_mount(self) -> None:
        # A KV v1 mount would accept the v2 writes as plain keys named
        # "data/...": refuse it before the first read or write.
        response = self._call("inspect the mount for", "", lambda: (
            self._client.adapter.get(f"/v1/sys/internal/ui/mounts/{self.mount}")))
        info = response.get("data") or {}
        options = info.get("options") or {}
        if info.get("type") != "kv" or str(options.get("version")) != "2":
            raise VaultUnavailableError(
                f"mount {self.mount!r} at OpenBao {self.addr} is not a KV version 2 "
                f"engine; enable one: bao secrets enable -path={self.mount} kv-v2")
        self._mount_checked = True

    def _write(self, title: str, path: str, fields: FieldValues, *, cas: int,
               conflict: VaultError) -> None:
        secret = _plain(fields)
        self._call("write", title, lambda: self._kv.create_or_update_secret(
            path, secret, cas=cas, mount_point=self.mount), conflict=conflict)

    def _live_version(self, title: str, path: str) -> int:
        meta = self._metadata(title, path)
        version = int(meta["current_version"])
        state = (meta.get("versions") or {}).get(str(version)) or {}
        if state.get("deletion_time") or state.get("destroyed"):
            raise NotFoundError(
                f"the latest version of item {title!r} in vault {self.name!r} "
                f"({self._where(path)}) is deleted; provision it again")
        return version

    def _metadata(self, title: str, path: str) -> dict[str, Any]:
        response = self._call("read", title, lambda: self._kv.read_secret_metadata(
            path, mount_point=self.mount))
        return dict(response["data"])

    def _item(self, title: str, values: Mapping[str, Any]) -> Item:
        fields = {k: v if isinstance(v, str) else json.dumps(v)
                  for k, v in values.items()}
        return Item(self.name, title.lower(), as_secrets(fields),
                    self._where(self._path(title)))

    def _path(self, title: str) -> str:
        if not TITLE.fullmatch(title):
            raise InvalidNameError(
                f"item title {title!r} cannot be an OpenBao path segment; use "
                "letters, digits, '.', '_' and '-' (128 at most)")
        # Titles are case-insensitive in every vaultgate vault.
        segment = title.lower()
        return f"{self.path_prefix}/{segment}" if self.path_prefix else segment

    def _where(self, path: str) -> str:
        return f"{self.mount}/{path} at {self.addr}"

    # -- errors, translated once here ------------------------------------------

    def _call(self, action: str, title: str, fn: Callable[[], T], *,
              conflict: VaultError | None = None) -> T:
        """Run one request; hvac and requests errors become vaultgate errors."""
        try:
            return fn()
        except hvac_errors.InvalidRequest as exc:
            if conflict is not None and CAS_MISMATCH in _server_says(exc):
                raise conflict from exc
            raise self._refused(action, title, exc) from exc
        except hvac_errors.InvalidPath as exc:
            raise self._missing(title, exc) from exc
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized) as exc:
            raise self._forbidden(action, title) from exc
        except (hvac_errors.VaultDown, hvac_errors.VaultNotInitialized) as exc:
            raise VaultUnavailableError(
                f"OpenBao at {self.addr} is sealed or not initialised; unseal it "
                "(bao operator unseal) and run the command again") from exc
        except hvac_errors.VaultError as exc:
            raise self._refused(action, title, exc) from exc
        except requests.RequestException as exc:
            raise VaultUnavailableError(
                f"OpenBao at {self.addr} is not reachable ({type(exc).__name__}); "
                "start it or fix the vault's addr (or BAO_ADDR)") from exc

    def _missing(self, title: str, exc: hvac_errors.VaultError) -> VaultError:
        if not title or "no handler for route" in _server_says(exc):
            return VaultUnavailableError(
                f"no secrets engine is mounted at {self.mount!r} on OpenBao "
                f"{self.addr}; enable one: bao secrets enable -path={self.mount} "
                "kv-v2")
        return NotFoundError(
            f"item {title!r} not found in vault {self.name!r} "
            f"({self._where(self._path(title))}); provision it first")

    def _forbidden(self, action: str, title: str) -> VaultError:
        scope = f"{self.mount}/*/{self.path_prefix}/*" if self.path_prefix \
            else f"{self.mount}/*"
        what = f"item {title!r}" if title else f"mount {self.mount!r}"
        return VaultUnavailableError(
            f"OpenBao at {self.addr} refused to {action} {what}: the token in "
            f"BAO_TOKEN (or VAULT_TOKEN) is invalid, expired or lacks a policy on "
            f"{scope}; set a valid token with that policy")

    def _refused(self, action: str, title: str,
                 exc: hvac_errors.VaultError) -> VaultError:
        # Only the server's error list: hvac's own text can quote the response.
        said = _server_says(exc) or type(exc).__name__
        return VaultError(
            f"OpenBao at {self.addr} refused to {action} item {title!r} in vault "
            f"{self.name!r}: {said}")


def _server_says(exc: hvac_errors.VaultError) -> str:
    errors = exc.errors if isinstance(exc.errors, list) else []
    return "; ".join(str(e) for e in errors)[:300]


def _plain(fields: FieldValues) -> dict[str, str]:
    return {k: v.reveal() if isinstance(v, Secret) else str(v)
            for k, v in fields.items()}


def _text(settings: Mapping[str, Any], key: str, default: str) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"vault setting {key} must be a string, not {value!r}")
    return value


def _addr(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    addr = settings.get("addr") or next(
        (environ[v] for v in ADDR_VARIABLES if environ.get(v)), None)
    if not isinstance(addr, str) or not addr:
        raise ConfigError("an openbao vault needs addr in its settings (or BAO_ADDR "
                          "in the environment), e.g. https://bao.internal:8200")
    parts = urlsplit(addr)
    # The address is not quoted: user info in it could hold a password.
    if parts.scheme not in ("http", "https") or not parts.hostname or \
            parts.username is not None:
        raise ConfigError("the openbao vault's addr must be an http(s) URL with a "
                          "host and no user info")
    return addr


def _token(environ: Mapping[str, str]) -> Secret:
    for variable in TOKEN_VARIABLES:
        if environ.get(variable):
            return Secret(environ[variable])
    raise ConfigError("no OpenBao token: set BAO_TOKEN (or VAULT_TOKEN) in the "
                      "environment of the process that opens this vault")
