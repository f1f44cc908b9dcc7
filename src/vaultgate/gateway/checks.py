"""Reading a gateway request: bounded body, strict JSON, names, the item
reference, extensions; and the refusals they raise.

Every function raises Refused with an HTTP status and a message that is safe
to return: it names the problem and never holds a secret.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from starlette.requests import Request

from vaultgate import reference
from vaultgate.errors import InvalidNameError, UsageError
from vaultgate.names import Target, validate_env

log = logging.getLogger("vaultgate.gateway")


class Refused(Exception):
    """A request refused with an HTTP status and a message safe to return."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Refused(413, "request body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(body: bytes) -> dict[str, Any]:
    """The signed body as one JSON object, parsed from the verified bytes.

    A body that is not exactly that is refused like a bad signature (the same
    401, the reason in the log): two parsers reading duplicate keys
    differently is how a signed body gets reinterpreted.
    """
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise _unparseable(f"duplicate JSON key {key!r}")
            out[key] = value
        return out

    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _unparseable("the body is not JSON in UTF-8") from exc
    if not isinstance(data, dict):
        raise _unparseable("the body is not a JSON object")
    return data


def _unparseable(reason: str) -> Refused:
    log.warning("refused a signed body: %s", reason)
    return Refused(401, "unauthorized")


def target_of(payload: dict[str, Any]) -> Target:
    try:
        return Target.of(payload.get("project"), payload.get("env"))
    except InvalidNameError as exc:
        raise Refused(400, str(exc)) from exc


def env_only(payload: dict[str, Any]) -> str:
    try:
        return validate_env(payload.get("env"))
    except InvalidNameError as exc:
        raise Refused(400, str(exc)) from exc


def item_reference(payload: dict[str, Any], vault_name: str,
                    target: Target) -> reference.Reference:
    # The gateway reads only the item that belongs to the target: a signed
    # request cannot point it at another item (say, the admin credential).
    text = payload.get("reference")
    try:
        ref = reference.parse(text, require_field=False) if isinstance(
            text, str) else None
    except UsageError as exc:
        raise Refused(400, str(exc)) from exc
    if ref is None or ref.field is not None:
        raise Refused(400, "reference must be an item reference op://vault/item")
    if ref.vault.lower() != vault_name.lower() or \
            ref.item.lower() != target.item_title.lower():
        raise Refused(400, f"reference {ref} is not this gateway's item for "
                      f"{target.project}/{target.env}: expected "
                      f"op://{vault_name}/{target.item_title}")
    return ref


def extensions(payload: dict[str, Any], allowed: frozenset[str],
                available: frozenset[str]) -> list[str]:
    names = payload.get("extensions", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Refused(400, "extensions must be a list of names")
    for name in names:
        if name not in allowed:
            raise Refused(400, f"extension {name!r} is not on this gateway's "
                          f"allowlist ({', '.join(sorted(allowed)) or 'empty'})")
        if name not in available:
            raise Refused(400, f"extension {name!r} is not installed on the target "
                          "cluster; install its package there or remove it")
    return sorted(set(names))


def field_of(payload: dict[str, Any]) -> str:
    field = payload.get("field", "password")
    if field not in ("password", "password_pending"):
        raise Refused(400, "field must be password or password_pending")
    return str(field)


def database_refusal(exc: psycopg.Error) -> Refused:
    # Only the primary message: the full text can quote the statement.
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    log.warning("PostgreSQL refused the plan: %s (%s)", primary,
                getattr(exc, "sqlstate", None))
    if isinstance(exc, psycopg.OperationalError):
        return Refused(503, "the target cluster is unavailable; check that "
                       "PostgreSQL is running")
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return Refused(403, f"PostgreSQL refused: {primary}; the gateway's role "
                       "lacks a privilege (an untrusted extension needs a superuser "
                       "to create it once)")
    return Refused(409, f"PostgreSQL refused: {primary}")
