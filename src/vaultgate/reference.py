"""op:// references, parsed and formatted as 1Password documents them.

    op://<vault>/<item>[/<section>]/<field>[?attribute=<name>]

Vault, item, section and field are names (letters, digits, '-', '_', '.', and
spaces) or 26-character IDs; matching is case-insensitive. An item reference
(`op://vault/item`, no field) names a whole item and is what a provisioning
request carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from vaultgate.errors import InvalidReferenceError

SCHEME = "op://"
_SEGMENT = re.compile(r"[A-Za-z0-9_.\- ]+")
_ATTRIBUTES = frozenset({"type", "value", "id", "purpose", "label", "otp", "totp"})


@dataclass(frozen=True)
class Reference:
    vault: str
    item: str
    section: str | None = None
    field: str | None = None
    attribute: str | None = None

    def __str__(self) -> str:
        parts = [self.vault, self.item]
        if self.section is not None:
            parts.append(self.section)
        if self.field is not None:
            parts.append(self.field)
        text = SCHEME + "/".join(parts)
        if self.attribute is not None:
            text += f"?attribute={self.attribute}"
        return text

    def with_field(self, field: str) -> Reference:
        return Reference(self.vault, self.item, None, field)

    def item_ref(self) -> Reference:
        return Reference(self.vault, self.item)


def parse(text: str, *, require_field: bool = True) -> Reference:
    """Parse an op:// reference; raise InvalidReferenceError naming it if bad."""
    if not isinstance(text, str) or not text.startswith(SCHEME):
        raise _bad(text, "it must start with op://")
    body, _, query = text[len(SCHEME):].partition("?")
    attribute = _parse_query(text, query) if query else None
    parts = body.split("/")
    if any(p == "" for p in parts):
        raise _bad(text, "it has an empty segment")
    for part in parts:
        if not _SEGMENT.fullmatch(part) or part.strip() != part:
            raise _bad(
                text,
                f"segment {part!r} has a character 1Password references do not "
                "allow (use letters, digits, '-', '_', '.', spaces, or the ID)",
            )
    if len(parts) == 2 and not require_field and attribute is None:
        return Reference(parts[0], parts[1])
    if len(parts) == 3:
        return Reference(parts[0], parts[1], None, parts[2], attribute)
    if len(parts) == 4:
        return Reference(parts[0], parts[1], parts[2], parts[3], attribute)
    expected = "op://vault/item[/section]/field"
    raise _bad(text, f"expected {expected}")


def is_reference(text: str) -> bool:
    return isinstance(text, str) and text.startswith(SCHEME)


def _parse_query(text: str, query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "attribute":
        raise _bad(text, "the only query it may carry is ?attribute=<name>")
    value = pairs[0][1].lower()
    if value not in _ATTRIBUTES:
        raise _bad(text, f"unknown attribute {pairs[0][1]!r}")
    return value


def _bad(text: object, why: str) -> InvalidReferenceError:
    shown = text if isinstance(text, str) else repr(text)
    return InvalidReferenceError(f"invalid secret reference {shown!r}: {why}")
