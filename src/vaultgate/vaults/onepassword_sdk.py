"""1Password through the official SDK, as a service account.

The token comes from OP_SERVICE_ACCOUNT_TOKEN. Many references are resolved in
one `secrets.resolve_all` call. The SDK is async; its calls run on one private
event loop thread, so the backend works from plain code and from inside a
running loop (the gateway) alike.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from vaultgate.errors import (
    AmbiguousError,
    ConfigError,
    InvalidReferenceError,
    NotFoundError,
    VaultError,
)
from vaultgate.reference import Reference
from vaultgate.secret import Secret
from vaultgate.vaults import _onepassword as op
from vaultgate.vaults.base import FieldValues, Item, ItemExistsError, check_vault_name

TOKEN_ENV = "OP_SERVICE_ACCOUNT_TOKEN"  # noqa: S105 (a variable name, not a token)
INTEGRATION = "vaultgate"
T = TypeVar("T")
_KINDS = {"Text": "STRING", "Concealed": "CONCEALED", "Menu": "MENU"}


class OnePasswordSdkVault:
    """A 1Password vault reached with the onepassword-sdk client."""

    def __init__(self, vault: str, *, client: Any = None, token: Secret | None = None,
                 backoff: op.Backoff = op.DEFAULT_BACKOFF,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if client is None and token is None:
            raise ConfigError(f"set {TOKEN_ENV} to use 1Password vault {vault!r}")
        self.name = vault
        self.backoff = backoff
        self._sleep = sleep
        self._client = client
        self._token = token
        self._loop = _LoopThread()
        self._vault_id: str | None = None
        self._overviews: list[Any] | None = None
        self._items: dict[str, Any] = {}
        self._resolved: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OnePasswordSdkVault:
        vault = settings.get("vault")
        if not isinstance(vault, str) or not vault:
            raise ConfigError(
                'a vault profile with backend = "op-sdk" needs vault = '
                '"<1Password vault name>"')
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise ConfigError(
                f"set {TOKEN_ENV} to a service account token with access to "
                f"1Password vault {vault!r}")
        return cls(vault, token=Secret(token))

    # -- the Vault protocol -------------------------------------------------

    def get_item(self, title: str) -> Item:
        return _to_item(self.name, self._item(title))

    def create_item(self, title: str, fields: FieldValues) -> Item:
        from onepassword import ItemCategory, ItemCreateParams, ItemSection

        if op.match_items(title, self._pairs()):
            raise ItemExistsError(
                f"item {title!r} already exists in 1Password vault {self.name!r}")
        planned = op.plan_fields(fields)
        sections = [ItemSection(id=op.SECTION_ID, title=op.SECTION_LABEL)] if (
            op.needs_section(planned)) else []
        params = ItemCreateParams(
            category=ItemCategory.DATABASE, vault_id=self._vault(), title=title,
            fields=[_sdk_field(f) for f in planned], sections=sections)
        created = self._call(lambda c: c.items.create(params), "items.create")
        self._remember(created)
        return _to_item(self.name, created)

    def update_item(self, title: str, fields: FieldValues) -> Item:
        from onepassword import ItemSection

        current = self._item(title)
        planned = op.plan_fields(fields)
        kept = [f for f in current.fields if not _op_field(f).ours]
        sections = [s for s in current.sections if s.id != op.SECTION_ID]
        if op.needs_section(planned):
            sections.append(ItemSection(id=op.SECTION_ID, title=op.SECTION_LABEL))
        new = current.model_copy(update={
            "fields": kept + [_sdk_field(f) for f in planned], "sections": sections})
        updated = self._call(lambda c: c.items.put(new), "items.put")
        self._remember(updated)
        return _to_item(self.name, updated)

    def delete_item(self, title: str) -> None:
        item_id = self._item_id(title)
        vault_id = self._vault()
        self._call(lambda c: c.items.delete(vault_id, item_id), "items.delete")
        self._items.pop(item_id, None)
        self._resolved.clear()
        self._overviews = [o for o in self._overviews or [] if o.id != item_id]

    def resolve(self, refs: Sequence[Reference]) -> list[Secret]:
        for ref in refs:
            check_vault_name(self, ref)
            if ref.field is None:
                raise NotFoundError(f"reference {ref} names an item, not a field")
        wanted = list(dict.fromkeys(
            _sdk_ref(r) for r in refs
            if _sdk_ref(r) not in self._resolved and self._cached(r) is None))
        if wanted:
            answer = self._call(lambda c: c.secrets.resolve_all(wanted),
                                "secrets.resolve_all")
            self._resolved.update(answer.individual_responses)
        return [self._local(ref) if self._cached(ref) is not None
                else self._secret(ref, self._resolved.get(_sdk_ref(ref)))
                for ref in refs]

    # -- lookups, cached for the life of this object ---------------------------

    def _vault(self) -> str:
        if self._vault_id is None:
            vaults = self._call(lambda c: c.vaults.list(), "vaults.list")
            ids = op.match_items(self.name, [(v.id, v.title) for v in vaults])
            if not ids:
                raise op.vault_not_found(self.name)
            if len(ids) > 1:
                raise AmbiguousError(
                    f"{len(ids)} 1Password vaults are named {self.name!r} (IDs: "
                    f"{', '.join(ids)}); set vault to the ID in vaultgate.toml")
            self._vault_id = ids[0]
        return self._vault_id

    def _pairs(self) -> list[tuple[str, str]]:
        if self._overviews is None:
            vault_id = self._vault()
            self._overviews = list(self._call(lambda c: c.items.list(vault_id),
                                              "items.list"))
        return [(o.id, o.title) for o in self._overviews]

    def _item_id(self, title: str) -> str:
        return op.pick_one(self.name, title, op.match_items(title, self._pairs()))

    def _item(self, title: str) -> Any:
        item_id = self._item_id(title)
        if item_id not in self._items:
            vault_id = self._vault()
            self._remember(self._call(lambda c: c.items.get(vault_id, item_id),
                                      "items.get"))
        return self._items[item_id]

    def _cached(self, ref: Reference) -> Any:
        """The item a reference names, if it is already fetched, else None."""
        if self._overviews is None:
            return None
        ids = op.match_items(ref.item, self._pairs())
        return self._items.get(ids[0]) if len(ids) == 1 else None

    def _local(self, ref: Reference) -> Secret:
        item = self._cached(ref)
        labels = {s.id: s.title for s in item.sections}
        return op.resolve_field(ref, item.title, [_op_field(f) for f in item.fields],
                                labels)

    def _remember(self, item: Any) -> None:
        self._resolved.clear()
        self._items[item.id] = item
        if self._overviews is not None:
            self._overviews = [o for o in self._overviews if o.id != item.id]
            self._overviews.append(item)

    def _secret(self, ref: Reference, response: Any) -> Secret:
        if response is None or response.error is not None:
            raise self._resolve_error(ref, response)
        value = response.content.secret
        if not value and op.op_field_name(ref.field or "") != ref.field:
            raise op.field_not_found(ref, ref.item)  # an empty built-in field
        return Secret(value)

    def _resolve_error(self, ref: Reference, response: Any) -> Exception:
        kind = getattr(getattr(response, "error", None), "type", "other")
        kind = getattr(kind, "value", kind)
        if kind == "vaultNotFound":
            return op.vault_not_found(self.name)
        if kind == "itemNotFound":
            return op.item_not_found(self.name, ref.item)
        if kind == "tooManyItems":
            return op.ambiguous(self.name, ref.item,
                                op.match_items(ref.item, self._pairs()))
        if kind == "noMatchingSections":
            return op.section_not_found(ref, ref.item)
        if kind == "fieldNotFound":
            return op.field_not_found(ref, ref.item)
        if kind == "tooManyMatchingFields":
            return AmbiguousError(
                f"{ref}: several fields match {ref.field!r}; reference it by ID")
        if kind == "parsing":
            return InvalidReferenceError(f"1Password could not parse {ref}")
        return VaultError(f"1Password could not resolve {ref} ({kind})")

    # -- calling the SDK ------------------------------------------------------

    def _call(self, call: Callable[[Any], Coroutine[Any, Any, T]], what: str) -> T:
        return op.with_retries(lambda: self._loop.run(self._once(call, what)),
                               self.backoff, f"the SDK's {what}", self._sleep)

    async def _once(self, call: Callable[[Any], Coroutine[Any, Any, T]],
                    what: str) -> T:
        from onepassword.errors import RateLimitExceededException

        try:
            return await call(await self._connect())
        except RateLimitExceededException as exc:
            raise op.RateLimited() from exc
        except VaultError:
            raise
        except Exception as exc:
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise VaultError(f"1Password SDK {what} failed: {detail}") from exc

    async def _connect(self) -> Any:
        if self._client is None:
            from onepassword import Client

            from vaultgate import __version__

            assert self._token is not None
            self._client = await Client.authenticate(
                auth=self._token.reveal(), integration_name=INTEGRATION,
                integration_version=__version__)
        return self._client


class _LoopThread:
    """One event loop on a daemon thread; run() waits for a coroutine on it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._get()).result()

    def _get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True,
                                 name="vaultgate-op-sdk").start()
            return self._loop


def _sdk_ref(ref: Reference) -> str:
    assert ref.field is not None
    field = op.op_field_name(ref.field)
    return str(Reference(ref.vault, ref.item, ref.section, field, ref.attribute))


def _sdk_field(f: op.OpField) -> Any:
    from onepassword import ItemField, ItemFieldType

    kinds = {"STRING": ItemFieldType.TEXT, "CONCEALED": ItemFieldType.CONCEALED,
             "MENU": ItemFieldType.MENU}
    return ItemField(id=f.id, title=f.label, section_id=f.section_id,
                     field_type=kinds.get(f.kind, ItemFieldType.TEXT), value=f.value)


def _op_field(f: Any) -> op.OpField:
    kind = _KINDS.get(getattr(f.field_type, "value", str(f.field_type)), "STRING")
    return op.OpField(id=f.id, label=f.title, value=f.value,
                      concealed=kind == "CONCEALED", section_id=f.section_id,
                      kind=kind)


def _to_item(vault: str, item: Any) -> Item:
    return op.to_item(vault, item.title, item.id, [_op_field(f) for f in item.fields])
