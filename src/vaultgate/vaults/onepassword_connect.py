"""1Password through a Connect server's REST API (OP_CONNECT_HOST, _TOKEN).

The vault and the item list are looked up once per process and matched here,
case-insensitively, by name or ID; each item's fields are fetched once. The
token is read from the environment and sent only in the Authorization header.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from vaultgate.errors import (
    AmbiguousError,
    ConfigError,
    NotFoundError,
    VaultError,
    VaultUnavailableError,
)
from vaultgate.reference import Reference
from vaultgate.secret import Secret
from vaultgate.vaults import _onepassword as op
from vaultgate.vaults.base import FieldValues, Item, ItemExistsError, check_vault_name

Json = dict[str, Any]
HOST_ENV = "OP_CONNECT_HOST"
TOKEN_ENV = "OP_CONNECT_TOKEN"  # noqa: S105 (a variable name, not a token)


class OnePasswordConnectVault:
    """A 1Password vault served by a Connect server."""

    def __init__(self, vault: str, *, host: str, token: Secret,
                 backoff: op.Backoff = op.DEFAULT_BACKOFF, timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.name = vault
        self.host = host
        self.backoff = backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=host, timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {token.reveal()}",
                     "Accept": "application/json"})
        self._vault_id: str | None = None
        self._summaries: list[Json] | None = None
        self._items: dict[str, Json] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OnePasswordConnectVault:
        vault = settings.get("vault")
        if not isinstance(vault, str) or not vault:
            raise ConfigError(
                'a vault profile with backend = "op-connect" needs vault = '
                '"<1Password vault name>"')
        host = os.environ.get(HOST_ENV, "")
        token = os.environ.get(TOKEN_ENV, "")
        if not host.startswith(("http://", "https://")):
            raise ConfigError(
                f"set {HOST_ENV} to the Connect server's URL (https://...) to use "
                f"vault profile {vault!r}")
        if not token:
            raise ConfigError(
                f"set {TOKEN_ENV} to a Connect access token with access to "
                f"1Password vault {vault!r}")
        return cls(vault, host=host, token=Secret(token))

    # -- the Vault protocol -------------------------------------------------

    def get_item(self, title: str) -> Item:
        return op.item_from_json(self.name, self._item(title))

    def create_item(self, title: str, fields: FieldValues) -> Item:
        if op.match_items(title, self._pairs()):
            raise ItemExistsError(
                f"item {title!r} already exists in 1Password vault {self.name!r}")
        doc = op.template(title, fields)
        doc["vault"] = {"id": self._vault()}
        created = self._call("POST", f"{self._path()}/items", body=doc)
        self._remember(created)
        return op.item_from_json(self.name, created)

    def update_item(self, title: str, fields: FieldValues) -> Item:
        current = self._item(title)
        doc = op.edited(current, fields)
        updated = self._call("PUT", f"{self._path()}/items/{current['id']}", body=doc)
        self._remember(updated)
        return op.item_from_json(self.name, updated)

    def delete_item(self, title: str) -> None:
        item_id = self._item_id(title)
        self._call("DELETE", f"{self._path()}/items/{item_id}")
        with self._lock:
            self._items.pop(item_id, None)
            if self._summaries is not None:
                self._summaries = [s for s in self._summaries if s["id"] != item_id]

    def resolve(self, refs: Sequence[Reference]) -> list[Secret]:
        out = []
        for ref in refs:
            check_vault_name(self, ref)
            data = self._item(ref.item)
            fields = [op.field_from_json(f) for f in data.get("fields", [])]
            out.append(op.resolve_field(ref, data.get("title", ref.item), fields,
                                        op.section_labels(data)))
        return out

    def close(self) -> None:
        self._http.close()

    # -- lookups, cached for the life of this object ---------------------------

    def _vault(self) -> str:
        if self._vault_id is None:
            vaults = self._call("GET", "/v1/vaults")
            ids = op.match_items(self.name, [(v["id"], v["name"]) for v in vaults])
            if not ids:
                raise op.vault_not_found(self.name)
            if len(ids) > 1:
                raise AmbiguousError(
                    f"{len(ids)} 1Password vaults are named {self.name!r} (IDs: "
                    f"{', '.join(ids)}); set vault to the ID in vaultgate.toml")
            self._vault_id = ids[0]
        return self._vault_id

    def _path(self) -> str:
        return f"/v1/vaults/{self._vault()}"

    def _pairs(self) -> list[tuple[str, str]]:
        if self._summaries is None:
            self._summaries = list(self._call("GET", f"{self._path()}/items"))
        return [(s["id"], s["title"]) for s in self._summaries]

    def _item_id(self, title: str) -> str:
        return op.pick_one(self.name, title, op.match_items(title, self._pairs()))

    def _item(self, title: str) -> Json:
        item_id = self._item_id(title)
        cached = self._items.get(item_id)
        if cached is None:
            cached = self._call("GET", f"{self._path()}/items/{item_id}")
            self._remember(cached)
        return cached

    def _remember(self, item: Json) -> None:
        with self._lock:
            self._items[item["id"]] = item
            if self._summaries is not None:
                self._summaries = [s for s in self._summaries if s["id"] != item["id"]]
                self._summaries.append({"id": item["id"], "title": item["title"]})

    # -- HTTP -----------------------------------------------------------------

    def _call(self, method: str, path: str, body: Json | None = None) -> Any:
        what = f"{method} {path}"
        response = op.with_retries(lambda: self._once(method, path, body),
                                   self.backoff, what, self._sleep)
        return response.json() if response.content else None

    def _once(self, method: str, path: str, body: Json | None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise VaultUnavailableError(
                f"cannot reach the 1Password Connect server at {self.host} "
                f"({type(exc).__name__}); check {HOST_ENV} and that the server "
                "runs") from exc
        if response.status_code == 429:
            raise op.RateLimited(_retry_after(response))
        if response.status_code >= 400:
            raise self._error(response, path)
        return response

    def _error(self, response: httpx.Response, path: str) -> VaultError:
        status = response.status_code
        if status == 401:
            return VaultUnavailableError(
                f"the Connect server at {self.host} refused the token; set "
                f"{TOKEN_ENV} to a valid Connect access token")
        if status == 403:
            return VaultUnavailableError(
                f"the Connect token has no access to 1Password vault {self.name!r}; "
                "grant the token's Connect server access to it")
        if status == 404 and path == self._vault_id_path():
            return op.vault_not_found(self.name)
        if status == 404:
            return NotFoundError(
                f"the Connect server no longer has {path} in 1Password vault "
                f"{self.name!r}; run the command again")
        return VaultError(
            f"the Connect server answered {status} to {response.request.method} "
            f"{path}: {_message(response)}")

    def _vault_id_path(self) -> str:
        return f"/v1/vaults/{self._vault_id}"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except ValueError:
        return "no message"
