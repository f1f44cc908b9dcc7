"""Templates with `{{ op://vault/item/field }}` placeholders, as `op inject`
renders them. Spaces inside the braces are optional; `$VAR` and `${VAR}` in a
reference are expanded from the environment first. Values go in as they are:
nothing is escaped, so the output holds each secret byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vaultgate.errors import InvalidReferenceError
from vaultgate.reference import Reference, parse
from vaultgate.secret import Secret

PLACEHOLDER = re.compile(
    r"\{\{[ \t]*(op://(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|[^{}\r\n])*?)[ \t]*\}\}")


@dataclass(frozen=True)
class Placeholder:
    start: int
    end: int
    reference: Reference


def placeholders(text: str, env: Mapping[str, str]) -> list[Placeholder]:
    """Find every placeholder and parse its reference; raise on the first bad one."""
    from vaultgate.launch.environment import expand

    found = []
    for match in PLACEHOLDER.finditer(text):
        raw = match.group(1)
        try:
            ref = parse(expand(raw, env))
        except InvalidReferenceError as exc:
            line = text.count("\n", 0, match.start()) + 1
            raise InvalidReferenceError(f"template line {line}: {exc}") from exc
        found.append(Placeholder(match.start(), match.end(), ref))
    return found


def render(text: str, found: Sequence[Placeholder], values: Sequence[Secret]) -> str:
    """Return text with each placeholder replaced by its value, as is."""
    parts = []
    pos = 0
    for placeholder, value in zip(found, values, strict=True):
        parts.append(text[pos:placeholder.start])
        parts.append(value.reveal())
        pos = placeholder.end
    parts.append(text[pos:])
    return "".join(parts)
