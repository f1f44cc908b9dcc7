"""The Vault protocol every backend implements, and the Item record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from vaultgate.errors import NotFoundError, VaultError
from vaultgate.reference import Reference
from vaultgate.secret import Secret

# Fields whose values are secret in every item vaultgate writes. Other fields
# (host, port, database, username) are still wrapped in Secret for uniformity.
CONCEALED_FIELDS = frozenset({"password", "password_pending", "password_previous",
                              "url", "key", "key_previous", "credential",
                              "credential_previous", "previous_key"})


class ItemExistsError(VaultError):
    """create_item found an item with that title already."""


@dataclass(frozen=True)
class Item:
    """One credential: a title and its fields, all values masked."""

    vault: str
    title: str
    fields: Mapping[str, Secret]
    id: str = ""
    sections: Mapping[str, Mapping[str, Secret]] = field(default_factory=dict)

    def get(self, name: str, section: str | None = None) -> Secret:
        """Return a field's value, matching its name case-insensitively."""
        source = self.fields if section is None else self._section(section)
        for key, value in source.items():
            if key.lower() == name.lower():
                return value
        where = f"section {section!r} of " if section else ""
        raise NotFoundError(
            f"field {name!r} not found in {where}item {self.title!r} of vault "
            f"{self.vault!r}; check the reference or re-provision the item"
        )

    def text(self, name: str) -> str:
        """Return a non-secret field (host, port, ...) as plain text."""
        return self.get(name).reveal()

    def has(self, name: str) -> bool:
        return any(key.lower() == name.lower() for key in self.fields)

    def _section(self, name: str) -> Mapping[str, Secret]:
        for key, value in self.sections.items():
            if key.lower() == name.lower():
                return value
        raise NotFoundError(
            f"section {name!r} not found in item {self.title!r} of vault "
            f"{self.vault!r}"
        )


FieldValues = Mapping[str, "Secret | str"]


@runtime_checkable
class Vault(Protocol):
    """A secret store. `name` is the vault segment of references into it."""

    name: str

    def get_item(self, title: str) -> Item:
        """Return the item titled `title`; NotFoundError or AmbiguousError."""
        ...

    def create_item(self, title: str, fields: FieldValues) -> Item:
        """Create an item; ItemExistsError if one with that title exists."""
        ...

    def update_item(self, title: str, fields: FieldValues) -> Item:
        """Replace all fields of an existing item in one write."""
        ...

    def delete_item(self, title: str) -> None:
        """Delete an item; NotFoundError if absent."""
        ...

    def resolve(self, refs: Sequence[Reference]) -> list[Secret]:
        """Resolve many references in as few round trips as the backend allows."""
        ...


def as_secrets(fields: FieldValues) -> dict[str, Secret]:
    return {k: v if isinstance(v, Secret) else Secret(str(v))
            for k, v in fields.items()}


def check_vault_name(vault: Vault, ref: Reference) -> None:
    if ref.vault.lower() != vault.name.lower():
        raise NotFoundError(
            f"vault {ref.vault!r} named by {ref} is not configured here "
            f"(this profile uses vault {vault.name!r})"
        )


def resolve_from_items(vault: Vault, refs: Sequence[Reference]) -> list[Secret]:
    """Resolve references by fetching each distinct item once."""
    items: dict[str, Item] = {}
    out: list[Secret] = []
    for ref in refs:
        check_vault_name(vault, ref)
        if ref.field is None:
            raise NotFoundError(f"reference {ref} names an item, not a field")
        key = ref.item.lower()
        if key not in items:
            items[key] = vault.get_item(ref.item)
        out.append(items[key].get(ref.field, ref.section))
    return out
