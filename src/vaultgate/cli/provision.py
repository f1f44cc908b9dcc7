"""`vaultgate provision`: schema, roles, grants, extensions and a vault item."""

from __future__ import annotations

import click

from vaultgate.cli._output import emit, json_option, progress_printer, target_from


@click.command()
@click.argument("project", required=False)
@click.option("--env", "env_name", default="dev", show_default=True,
              help="Environment; its vault and gateway come from vaultgate.toml.")
@click.option("--extension", "-x", "extensions", multiple=True,
              help="Extension to create (repeatable), added to the manifest's.")
@json_option
def provision(project: str | None, env_name: str, extensions: tuple[str, ...],
              as_json: bool) -> None:
    """Provision PROJECT: a fresh password goes to the vault, never to you.

    With no vaultgate.toml this uses the embedded default: a local encrypted
    vault and a local PostgreSQL 18 with the gateway, started on first use.
    Running it again converges and keeps the stored password.
    """
    from vaultgate.provision.flow import open_session
    from vaultgate.provision.flow import provision as run_provision

    manifest, target = target_from("provision", project, env_name)
    env = manifest.environment(env_name)
    progress = progress_printer(as_json)
    session = open_session(env, progress)
    with session.client:
        result = run_provision(session, target,
                               [*manifest.extensions, *extensions], progress)
    emit(result, as_json, _text(result))


def _text(result: dict[str, object]) -> str:
    ref = result["reference"]
    return (
        f"provisioned {result['project']} ({result['env']}): schema "
        f"{result['schema']}, role {result['role']}\n"
        f"credential: {ref}  (the password is in the vault only)\n"
        f"use it:     DATABASE_URL={ref}/url vaultgate run -- <your app>"
    )
