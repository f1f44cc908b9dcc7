"""`vaultgate keys`: show and rotate the request-signing key of an environment.

A rotation writes the new key and keeps the old one as `previous_*` fields
of the same item, valid until now + overlap, in one vault write: clients and
gateway replicas that still hold the old key keep working until it ends, and
the gateway picks the new key id up from the vault without a restart.
"""

from __future__ import annotations

import time
from typing import Any

import click

from vaultgate.cli._output import emit, json_option

env_option = click.option("--env", "env_name", default="dev", show_default=True,
                          help="Environment whose signing key to use.")
FIELDS = ("key_id", "key", "envs", "operations", "not_before", "not_after")


@click.group()
def keys() -> None:
    """Show and rotate request-signing keys (kept in the vault, never printed)."""


@keys.command()
@env_option
@json_option
def show(env_name: str, as_json: bool) -> None:
    """Show the key ids of the env's signing key item and their validity."""
    vault, title = _item_of(env_name)
    listed = [_describe(k) for k in _keys(vault.get_item(title))]
    lines = [f"{k['key_id']}: {k['validity']}" for k in listed]
    emit({"item": title, "keys": listed}, as_json, "\n".join(lines))


@keys.command()
@env_option
@click.option("--overlap", default=3600, show_default=True,
              type=click.IntRange(min=0, max=30 * 86400),
              help="Seconds the previous key stays valid after the rotation.")
@json_option
def rotate(env_name: str, overlap: int, as_json: bool) -> None:
    """Generate a new signing key; keep the current one valid for --overlap s."""
    vault, title = _item_of(env_name)
    fields, result = rotated_fields(vault.get_item(title), overlap, time.time())
    vault.update_item(title, fields)
    emit({"item": title, **result}, as_json,
         f"new signing key {result['key_id']} in {title}; previous key "
         f"{result['previous_key_id']} valid until {result['previous_not_after']}")


@keys.command()
@env_option
@click.option("--scope-envs", default=None, metavar="ENV[,ENV...]",
              help="Environments the key may ask for (default: any).")
@click.option("--scope-operations", default=None, metavar="OP[,OP...]",
              help="Operations it may ask for: target, provision, rotate "
                   "(default: any).")
@json_option
def new(env_name: str, scope_envs: str | None, scope_operations: str | None,
        as_json: bool) -> None:
    """Create the env's first signing key item (32 random bytes) in its vault.

    For a new gateway: the CLI and the gateway then read the same item. It
    refuses to replace an existing item; use `keys rotate` for that.
    """
    import secrets

    from vaultgate.errors import UsageError
    from vaultgate.names import validate_env
    from vaultgate.secret import generate_password
    from vaultgate.vaults import ItemExistsError

    vault, title = _item_of(env_name)
    fields: dict[str, Any] = {
        "key_id": f"k{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(4)}",
        "key": generate_password(32)}
    if scope_envs:
        fields["envs"] = ",".join(validate_env(e.strip())
                                  for e in scope_envs.split(","))
    if scope_operations:
        ops = [o.strip() for o in scope_operations.split(",")]
        unknown = set(ops) - {"target", "provision", "rotate"}
        if unknown:
            raise UsageError(f"unknown operation(s) {', '.join(sorted(unknown))}; "
                             "use target, provision, rotate")
        fields["operations"] = ",".join(ops)
    try:
        vault.create_item(title, fields)
    except ItemExistsError as exc:
        raise UsageError(f"signing key item {title!r} already exists in vault "
                         f"{vault.name!r}; use vaultgate keys rotate") from exc
    emit({"item": title, "key_id": fields["key_id"],
          "reference": f"op://{vault.name}/{title}"}, as_json,
         f"new signing key {fields['key_id']} in op://{vault.name}/{title}")


def rotated_fields(item: Any, overlap: int, now: float
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The item's fields after a rotation, and what to report (no key bytes)."""
    import base64
    import secrets

    from vaultgate.secret import Secret

    current = {k: item.fields[k] for k in FIELDS if item.has(k)}
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=")
    key_id = f"k{time.strftime('%Y%m%d', time.gmtime(now))}-{secrets.token_hex(4)}"
    fields: dict[str, Any] = {k: v for k, v in current.items()
                              if k in ("envs", "operations")}
    fields.update({"key_id": key_id, "key": Secret(raw.decode("ascii"))})
    fields.update({f"previous_{k}": v for k, v in current.items()})
    # The old key never gains validity: keep its own end if that comes first.
    ends = int(now) + overlap
    if item.has("not_after") and item.text("not_after"):
        ends = min(ends, int(float(item.text("not_after"))))
    fields["previous_not_after"] = str(ends)
    report = {"key_id": key_id, "previous_key_id": item.text("key_id"),
              "previous_not_after": ends}
    return fields, report


def _item_of(env_name: str) -> tuple[Any, str]:
    from vaultgate import config, reference
    from vaultgate.provision.flow import SIGNING_ITEM
    from vaultgate.vaults import open_vault

    env = config.load().environment(env_name)
    title = SIGNING_ITEM
    if env.signing_key:
        title = reference.parse(env.signing_key, require_field=False).item
    return open_vault(env.vault), title


def _keys(item: Any) -> list[Any]:
    from vaultgate.gateway.keys import keys_in

    return keys_in(item)


def _describe(key: Any) -> dict[str, Any]:
    def when(moment: float | None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)) \
            if moment is not None else "-"

    state = "valid"
    if key.not_after is not None and time.time() > key.not_after:
        state = "expired"
    return {"key_id": key.key_id, "not_before": key.not_before,
            "not_after": key.not_after, "state": state,
            "envs": sorted(key.envs) if key.envs else None,
            "operations": sorted(key.operations) if key.operations else None,
            "validity": f"{state}, from {when(key.not_before)} "
                        f"until {when(key.not_after)}"}
