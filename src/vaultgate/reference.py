"""op:// references, parsed and formatted as 1Password documents them.

    op://<vault>/<item>[/<section>]/<field>[?attribute=<name>]

Each segment is a name made of ASCII letters, digits, '-', '_', '.' and spaces,
or a 26-character ID. '/' only separates segments, so an object whose name
holds '/' or any other character is referenced by its ID. Matching against
the vault is case-insensitive; `Reference.key()` gives the form to compare.

An item reference (`op://vault/item`, no field) names a whole item and is what
a provisioning request carries; parse it with `require_field=False`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vaultgate.errors import InvalidReferenceError

SCHEME = "op://"
ID_LENGTH = 26
_SEGMENT = re.compile(r"[A-Za-z0-9_.\- ]+")
_ID = re.compile(r"[a-z0-9]{26}")
# The field attributes 1Password documents for `?attribute=` (alias `attr`).
ATTRIBUTES = frozenset({"type", "value", "title", "id", "purpose", "otp"})
_QUERY_KEYS = frozenset({"attribute", "attr"})


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

    def key(self) -> tuple[str | None, ...]:
        """A case-folded tuple: two references with equal keys name one secret."""
        return tuple(
            p.lower() if p is not None else None
            for p in (self.vault, self.item, self.section, self.field,
                      self.attribute)
        )


def parse(text: str, *, require_field: bool = True) -> Reference:
    """Parse an op:// reference; raise InvalidReferenceError naming it if bad."""
    if not isinstance(text, str) or not text.startswith(SCHEME):
        raise _bad(text, "it must start with op://")
    body, sep, query = text[len(SCHEME):].partition("?")
    attribute = _parse_query(text, query) if sep else None
    parts = body.split("/")
    for part in parts:
        _check_segment(text, part)
    if len(parts) == 2 and not require_field:
        if attribute is not None:
            raise _bad(text, "an attribute needs a field: op://vault/item/field")
        return Reference(parts[0], parts[1])
    if len(parts) == 3:
        return Reference(parts[0], parts[1], None, parts[2], attribute)
    if len(parts) == 4:
        return Reference(parts[0], parts[1], parts[2], parts[3], attribute)
    raise _bad(text, "expected op://vault/item[/section]/field")


def is_reference(text: str) -> bool:
    return isinstance(text, str) and text.startswith(SCHEME)


def is_id(segment: str) -> bool:
    """True if a segment has the shape of a 1Password ID (26 base32 characters)."""
    return len(segment) == ID_LENGTH and bool(_ID.fullmatch(segment.lower()))


def _check_segment(text: str, part: str) -> None:
    if part == "":
        raise _bad(text, "it has an empty segment")
    if not _SEGMENT.fullmatch(part):
        raise _bad(
            text,
            f"segment {part!r} has a character 1Password references do not "
            "allow; use letters, digits, '-', '_', '.', spaces, or the ID",
        )
    if part.strip() != part:
        raise _bad(text, f"segment {part!r} starts or ends with a space")


def _parse_query(text: str, query: str) -> str:
    key, sep, value = query.partition("=")
    if not sep or key.lower() not in _QUERY_KEYS or "&" in value:
        raise _bad(text, "the only query it may carry is ?attribute=<name>")
    if value.lower() not in ATTRIBUTES:
        known = ", ".join(sorted(ATTRIBUTES))
        raise _bad(text, f"unknown attribute {value!r} (use one of: {known})")
    return value.lower()


def _bad(text: object, why: str) -> InvalidReferenceError:
    # Text that is not shaped like a reference may be a pasted secret value:
    # it is never echoed.
    if is_reference(text):  # type: ignore[arg-type]
        return InvalidReferenceError(f"invalid secret reference {text!r}: {why}")
    return InvalidReferenceError(f"invalid secret reference (value not shown): {why}")
