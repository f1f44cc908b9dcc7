"""Build a child's environment: the shell, env files on top, references
resolved in one batch per vault before anything starts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from vaultgate.errors import UsageError

if TYPE_CHECKING:
    from vaultgate.reference import Reference
    from vaultgate.secret import Secret

# Checked before importing the reference parser, which a run without any
# reference never needs (start time matters here).
_SCHEME = "op://"

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class Resolved(NamedTuple):
    """The environment for the child and the secret values put into it."""

    env: dict[str, str]
    secrets: tuple[Secret, ...]


def merge(shell: Mapping[str, str], env_files: Sequence[str]) -> dict[str, str]:
    """Return the shell environment with each env file laid over it in order."""
    from vaultgate.launch import envfile

    merged = dict(shell)
    for path in env_files:
        merged.update(envfile.load(path))
    return merged


def expand(text: str, env: Mapping[str, str]) -> str:
    """Replace $VAR and ${VAR} in a reference; UsageError if one is unset."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in env:
            raise UsageError(
                f"reference {text!r} uses ${name}, which is not set; "
                f"export {name} or define it in an env file"
            )
        return env[name]

    return _VARIABLE.sub(one, text)


def references(env: Mapping[str, str]) -> dict[str, Reference]:
    """Return the variables whose values are op:// references, parsed."""
    found: dict[str, Reference] = {}
    for key, value in env.items():
        if value.startswith(_SCHEME):
            found[key] = _parse(key, value, env)
    return found


def resolve(env: Mapping[str, str]) -> Resolved:
    """Resolve every reference in env; raise before returning on any failure."""
    _check_nul(env)
    refs = references(env)
    if not refs:
        return Resolved(dict(env), ())
    from vaultgate.resolve import resolve as resolve_refs

    keys = list(refs)
    labels = [f"{key}={refs[key]}" for key in keys]
    values = resolve_refs([refs[key] for key in keys], labels)
    out = dict(env)
    out.update((key, value.reveal()) for key, value in zip(keys, values, strict=True))
    _check_nul(out)
    return Resolved(out, tuple(values))


def _check_nul(env: Mapping[str, str]) -> None:
    """Refuse a NUL byte, which no process environment can carry."""
    for key, value in env.items():
        if "\0" in value:
            raise UsageError(
                f"variable {key} holds a NUL byte, which an environment cannot "
                "carry; remove it from the env file or the vault item"
            )


def _parse(key: str, value: str, env: Mapping[str, str]) -> Reference:
    """Expand and parse one variable's reference; errors start with its name."""
    from vaultgate.reference import parse

    try:
        return parse(expand(value, env))
    except UsageError as exc:
        raise type(exc)(f"{key}: {exc}") from exc
