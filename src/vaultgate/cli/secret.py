"""`vaultgate secret`: app secrets (JWT keys, session keys, API tokens) that
nobody types. Each lives in a vault item `<NAME>-<ENV>` whose `credential`
field an app reads by reference; rotation keeps the previous value in
`credential_previous` so the app can accept both during a restart window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from vaultgate.cli._output import emit, json_option

if TYPE_CHECKING:
    from vaultgate.secret import Secret
    from vaultgate.vaults.base import Item, Vault

FIELD = "credential"
PREVIOUS = "credential_previous"
FORMATS = ("base64url", "hex")
DEFAULT_BYTES = 32

_env_option = click.option("--env", "env", required=True,
                           help="Environment whose vault holds the secret.")
_bytes_option = click.option("--bytes", "nbytes", type=click.IntRange(16, 1024),
                             help=f"Random bytes (default {DEFAULT_BYTES}, or the "
                                  "current secret's size on rotate).")
_format_option = click.option("--format", "fmt", type=click.Choice(FORMATS),
                              help="Encoding (default base64url, or the current "
                                   "secret's on rotate).")


@click.group()
def secret() -> None:
    """Generate and rotate app secrets; prints only their references."""


@secret.command()
@click.argument("name")
@_env_option
@_bytes_option
@_format_option
@json_option
def new(name: str, env: str, nbytes: int | None, fmt: str | None,
        as_json: bool) -> None:
    """Generate secret NAME for --env into the vault and print its reference."""
    from vaultgate.vaults.base import ItemExistsError

    vault, title = _open(name, env)
    nbytes, fmt = nbytes or DEFAULT_BYTES, fmt or FORMATS[0]
    fields: dict[str, Secret | str] = {
        FIELD: _generate(nbytes, fmt), "format": fmt, "bytes": str(nbytes)}
    try:
        vault.create_item(title, fields)
    except ItemExistsError as exc:
        raise ItemExistsError(_exists_advice(vault, title, name, env)) from exc
    _report(vault, title, as_json, rotated=False)


@secret.command()
@click.argument("name")
@_env_option
@_bytes_option
@_format_option
@json_option
def rotate(name: str, env: str, nbytes: int | None, fmt: str | None,
           as_json: bool) -> None:
    """Replace secret NAME's value, keeping the old one in credential_previous."""
    vault, title = _open(name, env)
    item = vault.get_item(title)
    _check_app_secret(item, name, env)
    fmt = fmt or _setting(item, "format", FORMATS[0])
    nbytes = nbytes or int(_setting(item, "bytes", str(DEFAULT_BYTES)))
    fields: dict[str, Secret | str] = dict(item.fields)
    fields[PREVIOUS] = item.get(FIELD)
    fields[FIELD] = _generate(nbytes, fmt)
    fields.update({"format": fmt, "bytes": str(nbytes)})
    # One write: the new value and the previous one appear together or not at all.
    vault.update_item(item.title, fields)
    _report(vault, item.title, as_json, rotated=True)


def _open(name: str, env: str) -> tuple[Vault, str]:
    from vaultgate import config
    from vaultgate.names import validate_env, validate_project
    from vaultgate.vaults import open_vault

    validate_project(name)
    validate_env(env)
    vault = open_vault(config.load().environment(env).vault)
    return vault, f"{name}-{env}"


def _generate(nbytes: int, fmt: str) -> Secret:
    from vaultgate.secret import generate_hex, generate_password

    return generate_hex(nbytes) if fmt == "hex" else generate_password(nbytes)


def _check_app_secret(item: Item, name: str, env: str) -> None:
    from vaultgate.errors import UsageError

    if not item.has(FIELD):
        raise UsageError(
            f"item {item.title!r} in vault {item.vault!r} has no {FIELD!r} "
            f"field, so it is not an app secret (a database credential is "
            f"rotated with `vaultgate rotate {name} --env {env}`)"
        )


def _exists_advice(vault: Vault, title: str, name: str, env: str) -> str:
    """Why `secret new` cannot create title, with the command that fits the item."""
    from vaultgate.errors import VaultError

    start = f"item {title!r} already exists in vault {vault.name!r}"
    try:
        item = vault.get_item(title)
    except VaultError:
        item = None
    if item is None or item.has(FIELD):
        return (f"{start}; run `vaultgate secret rotate {name} --env {env}` to "
                "replace its value")
    if item.has("password"):
        return (f"{start} and is a database credential; rotate it with "
                f"`vaultgate rotate {name} --env {env}`, or choose another name "
                "for the app secret")
    return (f"{start} and is not an app secret (no {FIELD!r} field); choose "
            "another name for the app secret")


def _setting(item: Item, field: str, default: str) -> str:
    if not item.has(field):
        return default
    value = item.text(field)
    if field == "format" and value not in FORMATS:
        return default
    if field == "bytes" and not value.isdigit():
        return default
    return value


def _report(vault: Vault, title: str, as_json: bool, *, rotated: bool) -> None:
    from vaultgate.reference import Reference

    ref = str(Reference(vault.name, title, None, FIELD))
    data = {"reference": ref, "vault": vault.name, "item": title, "rotated": rotated}
    if rotated:
        data["previous"] = str(Reference(vault.name, title, None, PREVIOUS))
    emit(data, as_json, ref)
