"""What the three 1Password backends share: items in the Database category.

vaultgate's item fields map onto the built-in fields of 1Password's Database
category so an item looks native in the 1Password app:

    vaultgate   1Password field (id / label)
    host        hostname / server
    port        port / port
    database    database / database
    username    username / username
    password    password / password        concealed
    (always)    database_type / type       "postgresql"

Every other field (url, password_pending, key_id, key, ...) is a custom field
in a section labelled "vaultgate", concealed when its name is secret. Fields
are resolved the way 1Password resolves them: by label or ID, ignoring case.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from vaultgate.errors import (
    AmbiguousError,
    NotFoundError,
    VaultError,
    VaultUnavailableError,
)
from vaultgate.reference import Reference, is_id
from vaultgate.secret import Secret
from vaultgate.vaults.base import CONCEALED_FIELDS, FieldValues, Item

log = logging.getLogger("vaultgate.vaults.onepassword")

CATEGORY = "DATABASE"
DATABASE_TYPE = "postgresql"
SECTION_ID = "vaultgate"
SECTION_LABEL = "vaultgate"
TYPE_FIELD_ID = "database_type"


@dataclass(frozen=True)
class Builtin:
    name: str
    id: str
    label: str
    concealed: bool = False


BUILTINS = (
    Builtin("host", "hostname", "server"),
    Builtin("port", "port", "port"),
    Builtin("database", "database", "database"),
    Builtin("username", "username", "username"),
    Builtin("password", "password", "password", concealed=True),
)
_BY_NAME = {b.name: b for b in BUILTINS}
_BY_ID = {b.id: b for b in BUILTINS}
# Database-category fields vaultgate neither writes nor reads back.
_FOREIGN_IDS = frozenset({TYPE_FIELD_ID, "notesPlain", "sid", "alias", "options"})


@dataclass(frozen=True)
class OpField:
    """One 1Password field, independent of the API that carried it."""

    id: str
    label: str
    value: str
    concealed: bool = False
    section_id: str | None = None
    purpose: str = ""
    kind: str = "STRING"

    @property
    def ours(self) -> bool:
        return self.id in _BY_ID or self.id == TYPE_FIELD_ID or (
            self.section_id == SECTION_ID)


# -- vaultgate fields <-> 1Password fields -------------------------------------

def plan_fields(fields: FieldValues) -> list[OpField]:
    """The 1Password fields that hold `fields`: built-ins first, then custom."""
    values = {k: v.reveal() if isinstance(v, Secret) else str(v)
              for k, v in fields.items()}
    out = [OpField(TYPE_FIELD_ID, "type", DATABASE_TYPE, kind="MENU")]
    for b in BUILTINS:
        out.append(OpField(b.id, b.label, values.pop(b.name, ""), b.concealed,
                           kind="CONCEALED" if b.concealed else "STRING"))
    for name, value in values.items():
        secret = name.lower() in CONCEALED_FIELDS
        out.append(OpField(name, name, value, secret, SECTION_ID,
                           kind="CONCEALED" if secret else "STRING"))
    return out


def to_item(vault: str, title: str, item_id: str, fields: Iterable[OpField]) -> Item:
    """Build vaultgate's Item; empty built-ins and foreign fields are left out."""
    values: dict[str, Secret] = {}
    for f in fields:
        if f.id in _FOREIGN_IDS:
            continue
        builtin = _BY_ID.get(f.id)
        if builtin is not None:
            if f.value:
                values[builtin.name] = Secret(f.value)
        elif f.label:
            values[f.label] = Secret(f.value)
    return Item(vault, title, values, item_id)


def needs_section(fields: Sequence[OpField]) -> bool:
    return any(f.section_id == SECTION_ID for f in fields)


# -- the JSON shape of `op item get --format json` and of Connect ---------------

def field_from_json(data: Mapping[str, Any]) -> OpField:
    kind = str(data.get("type", "STRING")).upper()
    section = data.get("section") or {}
    return OpField(
        id=str(data.get("id", "")),
        label=str(data.get("label", "")),
        value=str(data.get("value", "") or ""),
        concealed=kind == "CONCEALED",
        section_id=section.get("id"),
        purpose=str(data.get("purpose", "") or ""),
        kind=kind,
    )


def field_to_json(f: OpField) -> dict[str, Any]:
    data: dict[str, Any] = {"id": f.id, "type": f.kind, "label": f.label,
                            "value": f.value}
    if f.purpose:
        data["purpose"] = f.purpose
    if f.section_id is not None:
        label = SECTION_LABEL if f.section_id == SECTION_ID else f.section_id
        data["section"] = {"id": f.section_id, "label": label}
    return data


def template(title: str, fields: FieldValues) -> dict[str, Any]:
    """An item JSON template for a new Database item."""
    planned = plan_fields(fields)
    doc: dict[str, Any] = {"title": title, "category": CATEGORY, "sections": [],
                           "fields": [field_to_json(f) for f in planned]}
    if needs_section(planned):
        doc["sections"] = [{"id": SECTION_ID, "label": SECTION_LABEL}]
    return doc


def edited(current: Mapping[str, Any], fields: FieldValues) -> dict[str, Any]:
    """The full item JSON with vaultgate's fields replaced, the rest kept."""
    kept = [f for f in current.get("fields", [])
            if not field_from_json(f).ours]
    planned = plan_fields(fields)
    doc = dict(current)
    doc["fields"] = kept + [field_to_json(f) for f in planned]
    sections = [s for s in current.get("sections", []) or []
                if s.get("id") != SECTION_ID]
    if needs_section(planned):
        sections.append({"id": SECTION_ID, "label": SECTION_LABEL})
    doc["sections"] = sections
    return doc


def item_from_json(vault: str, data: Mapping[str, Any]) -> Item:
    fields = [field_from_json(f) for f in data.get("fields", [])]
    return to_item(vault, str(data.get("title", "")), str(data.get("id", "")),
                   fields)


def section_labels(data: Mapping[str, Any]) -> dict[str, str]:
    return {str(s.get("id")): str(s.get("label", "") or "")
            for s in data.get("sections", []) or []}


# -- finding items and fields ---------------------------------------------------

def match_items(wanted: str, items: Iterable[tuple[str, str]]) -> list[str]:
    """IDs of (id, title) pairs that `wanted` names, by ID or title, any case."""
    pairs = list(items)
    if is_id(wanted):
        by_id = [i for i, _ in pairs if i.lower() == wanted.lower()]
        if by_id:
            return by_id
    return [i for i, title in pairs if title.lower() == wanted.lower()]


def pick_one(vault: str, wanted: str, ids: Sequence[str]) -> str:
    if not ids:
        raise item_not_found(vault, wanted)
    if len(ids) > 1:
        raise ambiguous(vault, wanted, ids)
    return ids[0]


def resolve_field(ref: Reference, item_title: str, fields: Sequence[OpField],
                  sections: Mapping[str, str]) -> Secret:
    """Resolve one reference inside an item's fields, as 1Password does."""
    if ref.field is None:
        raise NotFoundError(f"reference {ref} names an item, not a field")
    # An empty built-in is a field vaultgate never wrote: treat it as absent,
    # as the other backends do.
    present = [f for f in fields if f.value or f.id not in _BY_ID]
    candidates = [f for f in present if _in_section(f, ref.section, sections)]
    if ref.section is not None and not candidates:
        raise section_not_found(ref, item_title)
    matches = [f for f in candidates if _names(f, ref.field)]
    if not matches:
        raise field_not_found(ref, item_title)
    if len(matches) > 1:
        ids = ", ".join(f.id for f in matches)
        raise AmbiguousError(
            f"{ref}: several fields of item {item_title!r} match "
            f"{ref.field!r} (field IDs {ids}); reference the field by its ID")
    return _attribute(ref, matches[0])


def _in_section(f: OpField, section: str | None,
                labels: Mapping[str, str]) -> bool:
    if section is None:
        return True
    if f.section_id is None:
        return False
    label = labels.get(f.section_id, "")
    return section.lower() in (f.section_id.lower(), label.lower())


def _names(f: OpField, wanted: str) -> bool:
    wanted = wanted.lower()
    builtin = _BY_ID.get(f.id)
    alias = builtin.name if builtin is not None else None
    return wanted in (f.label.lower(), f.id.lower(), alias)


def _attribute(ref: Reference, f: OpField) -> Secret:
    attribute = ref.attribute or "value"
    if attribute == "otp":
        raise VaultError(
            f"{ref}: field {f.label!r} is not a one-time password field; "
            "remove ?attribute=otp")
    plain = {"type": f.kind.lower(), "id": f.id, "title": f.label,
             "purpose": f.purpose.lower()}
    if attribute in plain:
        return Secret(plain[attribute])
    return Secret(f.value)


def op_field_name(name: str) -> str:
    """The 1Password label for a vaultgate field name (host -> server)."""
    builtin = _BY_NAME.get(name.lower())
    return builtin.label if builtin is not None else name


# -- errors ---------------------------------------------------------------------

def vault_not_found(vault: str) -> NotFoundError:
    return NotFoundError(
        f"1Password vault {vault!r} not found, or this identity has no access to "
        "it; check `vault` in the [vault.*] profile of vaultgate.toml or grant "
        "the service account access to the vault")


def item_not_found(vault: str, title: str) -> NotFoundError:
    return NotFoundError(
        f"item {title!r} not found in 1Password vault {vault!r}; provision it "
        "first or check the reference")


def ambiguous(vault: str, title: str, ids: Sequence[str]) -> AmbiguousError:
    return AmbiguousError(
        f"{len(ids)} items in 1Password vault {vault!r} match {title!r} (IDs: "
        f"{', '.join(ids)}); delete or rename the extra items, or reference the "
        "item by its ID")


def section_not_found(ref: Reference, title: str) -> NotFoundError:
    return NotFoundError(
        f"{ref}: item {title!r} has no section {ref.section!r}; check the "
        "reference")


def field_not_found(ref: Reference, title: str) -> NotFoundError:
    return NotFoundError(
        f"{ref}: item {title!r} has no field {ref.field!r}; check the reference "
        "or re-provision the item")


# -- rate limits ----------------------------------------------------------------

class RateLimited(Exception):
    """1Password refused a request for its rate limit; carries no detail."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff for rate-limited requests."""

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


DEFAULT_BACKOFF = Backoff()
T = TypeVar("T")


def with_retries(call: Callable[[], T], backoff: Backoff, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run call(), retrying RateLimited with backoff, then a clear error."""
    for delay in backoff.delays():
        try:
            return call()
        except RateLimited as exc:
            wait = min(exc.retry_after or delay, backoff.max_delay)
            log.warning("1Password rate limit on %s; retrying in %.1fs", what, wait)
            sleep(wait)
    try:
        return call()
    except RateLimited as exc:
        raise VaultUnavailableError(
            f"1Password kept refusing {what} for its rate limit after "
            f"{backoff.attempts} attempts; wait a few minutes and run the command "
            "again, or check the service account's rate limits") from exc
