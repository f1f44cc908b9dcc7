"""Templates with `{{ op://vault/item/field }}` placeholders, as `op inject`
renders them. Spaces inside the braces are optional; `$VAR` and `${VAR}` in a
reference are expanded from the environment first.

In the `raw` format values go in as they are, like `op inject`. In the
`dotenv` and `json` formats each value is written so that the file, read back
by a parser of that format, gives the secret byte for byte: quotes,
backslashes, `$` and newlines included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vaultgate.errors import InvalidReferenceError, UsageError
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


FORMATS = ("raw", "dotenv", "json")
# Unquoted dotenv values that every parser reads back unchanged.
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")


def detect_format(*paths: Path | None) -> str:
    """dotenv for .env, *.env and .env.* files, json for *.json, else raw."""
    for path in paths:
        if path is None:
            continue
        name = path.name.lower()
        if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
            return "dotenv"
        if name.endswith(".json"):
            return "json"
    return "raw"


def render(text: str, found: Sequence[Placeholder], values: Sequence[Secret],
           fmt: str = "raw") -> str:
    """Return text with each placeholder replaced by its value, encoded for fmt."""
    parts = []
    pos = 0
    for placeholder, value in zip(found, values, strict=True):
        parts.append(text[pos:placeholder.start])
        before = text[placeholder.start - 1:placeholder.start]
        after = text[placeholder.end:placeholder.end + 1]
        quote = before if before == after and before in ("'", '"') else ""
        parts.append(_encode(value.reveal(), fmt, quote, placeholder.reference))
        pos = placeholder.end
    parts.append(text[pos:])
    return "".join(parts)


def _encode(value: str, fmt: str, quote: str, ref: Reference) -> str:
    if fmt == "json":
        encoded = json.dumps(value, ensure_ascii=False)
        return encoded[1:-1] if quote == '"' else encoded
    if fmt != "dotenv":
        return value
    if quote == "'":
        if "'" in value:
            raise UsageError(
                f"the value of {ref} holds a single quote, which a single-quoted "
                "dotenv value cannot; put the placeholder in double quotes")
        return value
    if quote == '"':
        return _dotenv_escape(value)
    return value if _PLAIN.fullmatch(value) else f'"{_dotenv_escape(value)}"'


def _dotenv_escape(value: str) -> str:
    # The escapes common to dotenv parsers inside double quotes; everything
    # else (tabs, $, single quotes, unicode) is read back as written.
    return (value.replace("\\", "\\\\").replace('"', '\\"')
            .replace("\n", "\\n").replace("\r", "\\r"))
