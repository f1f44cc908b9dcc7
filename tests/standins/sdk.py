"""A stand-in for the 1Password SDK's native core, for tests only.

The onepassword-sdk package sends every call as a JSON invocation to a native
core that talks to 1Password's servers. `StandinCore` answers those
invocations from memory instead, with the JSON shapes the SDK's own pydantic
models validate. `standin_client()` then builds a client from the SDK's real
`Secrets`, `Items` and `Vaults` classes on top of it, so the backend under test
calls exactly the methods, and gets exactly the types, it would in production.
A rate limit is raised as the SDK raises it: RateLimitExceededException.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(26))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandinCore:
    """Answers SDK invocations (VaultsList, ItemsGet, SecretsResolveAll, ...)."""

    def __init__(self) -> None:
        self.vaults: list[dict[str, Any]] = []
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.invocations: list[str] = []
        self.rate_limit_left = 0
        self.lock = threading.Lock()

    def add_vault(self, name: str) -> str:
        vault_id = new_id()
        self.vaults.append({
            "id": vault_id, "title": name, "description": "",
            "vaultType": "userCreated", "activeItemCount": 0, "contentVersion": 1,
            "attributeVersion": 1, "createdAt": now(), "updatedAt": now()})
        self.items[vault_id] = []
        return vault_id

    # -- the Core protocol ------------------------------------------------------

    async def init_client(self, config: dict[str, Any]) -> str:
        return "1"

    async def invoke(self, config: dict[str, Any]) -> str:
        return self.invoke_sync(config)

    def invoke_sync(self, config: dict[str, Any]) -> str:
        from onepassword.errors import RateLimitExceededException

        call = config["invocation"]["parameters"]
        with self.lock:
            self.invocations.append(call["name"])
            if self.rate_limit_left > 0:
                self.rate_limit_left -= 1
                raise RateLimitExceededException(
                    "rate limit exceeded: too many requests from this service "
                    "account, retry later")
            handler = getattr(self, "_" + call["name"], None)
            if handler is None:
                raise Exception(f"invocation {call['name']} is not in the stand-in")
            return json.dumps(handler(**call["parameters"]))

    def release_client(self, client_id: int) -> None:
        pass

    # -- invocations ------------------------------------------------------------

    def _VaultsList(self, params: Any = None) -> list[dict[str, Any]]:  # noqa: N802
        return [{**v, "activeItemCount": len(self.items[v["id"]])}
                for v in self.vaults]

    def _ItemsList(self, vault_id: str, filters: Any = None) -> list[Any]:  # noqa: N802
        return [{k: i[k] for k in ("id", "title", "category", "vaultId", "websites",
                                    "tags", "createdAt", "updatedAt")}
                | {"state": "active"} for i in self._vault_items(vault_id)]

    def _ItemsGet(self, vault_id: str, item_id: str) -> dict[str, Any]:  # noqa: N802
        return self._find(vault_id, item_id)

    def _ItemsCreate(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        items = self._vault_items(params["vaultId"])
        item = {
            "id": new_id(), "title": params["title"], "category": params["category"],
            "vaultId": params["vaultId"], "fields": params.get("fields") or [],
            "sections": params.get("sections") or [], "notes": "", "tags": [],
            "websites": [], "version": 1, "files": [], "createdAt": now(),
            "updatedAt": now()}
        items.append(item)
        return item

    def _ItemsPut(self, item: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        current = self._find(item["vaultId"], item["id"])
        if item["version"] != current["version"]:
            raise Exception("item update failed: incorrect item version")
        current.update(fields=item["fields"], sections=item["sections"],
                       title=item["title"], version=current["version"] + 1,
                       updatedAt=now())
        return current

    def _ItemsDelete(self, vault_id: str, item_id: str) -> None:  # noqa: N802
        items = self._vault_items(vault_id)
        items.remove(self._find(vault_id, item_id))

    def _SecretsResolveAll(self, secret_references: list[str]  # noqa: N802
                           ) -> dict[str, Any]:
        return {"individualResponses": {
            ref: self._resolve(ref) for ref in secret_references}}

    # -- helpers ----------------------------------------------------------------

    def _vault_items(self, vault_id: str) -> list[dict[str, Any]]:
        if vault_id not in self.items:
            raise Exception("error while retrieving vault: vault not found")
        return self.items[vault_id]

    def _find(self, vault_id: str, item_id: str) -> dict[str, Any]:
        for item in self._vault_items(vault_id):
            if item["id"] == item_id:
                return item
        raise Exception("error while retrieving item: item not found")

    def _resolve(self, ref: str) -> dict[str, Any]:
        body, _, query = ref.removeprefix("op://").partition("?")
        parts = body.split("/")
        if not ref.startswith("op://") or len(parts) not in (3, 4):
            return {"error": {"type": "parsing", "message": "invalid reference"}}
        vaults = [v for v in self.vaults
                  if parts[0].lower() in (v["id"], v["title"].lower())]
        if len(vaults) != 1:
            return _err("vaultNotFound" if not vaults else "tooManyVaults")
        items = [i for i in self.items[vaults[0]["id"]]
                 if parts[1].lower() in (i["id"], i["title"].lower())]
        if len(items) != 1:
            return _err("itemNotFound" if not items else "tooManyItems")
        item = items[0]
        fields = item["fields"]
        if len(parts) == 4:
            sections = {s["id"] for s in item["sections"]
                        if parts[2].lower() in (s["id"].lower(), s["title"].lower())}
            if not sections:
                return _err("noMatchingSections")
            fields = [f for f in fields if f.get("sectionId") in sections]
        found = [f for f in fields
                 if parts[-1].lower() in (f["id"].lower(), f["title"].lower())]
        if len(found) != 1:
            return _err("fieldNotFound" if not found else "tooManyMatchingFields")
        field = found[0]
        attribute = query.partition("=")[2].lower() or "value"
        value = {"type": field["fieldType"].lower(), "id": field["id"],
                 "title": field["title"]}.get(attribute, field["value"])
        return {"content": {"secret": value, "itemId": item["id"],
                            "vaultId": vaults[0]["id"]}}


def _err(kind: str) -> dict[str, Any]:
    return {"error": {"type": kind}}


def standin_client(core: StandinCore) -> Any:
    """A client with the SDK's real API classes, talking to the stand-in core."""
    from onepassword.core import InnerClient
    from onepassword.items import Items
    from onepassword.secrets import Secrets
    from onepassword.vaults import Vaults

    inner = InnerClient(1, core, {})  # type: ignore[arg-type]
    return SimpleNamespace(secrets=Secrets(inner), items=Items(inner),
                           vaults=Vaults(inner))
