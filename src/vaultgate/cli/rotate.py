"""`vaultgate rotate`: a new database password, with no lock-out on the way."""

from __future__ import annotations

import click

from vaultgate.cli._output import emit, json_option, progress_printer, target_from


@click.command()
@click.argument("project", required=False)
@click.option("--env", "env_name", default="dev", show_default=True,
              help="Environment whose credential to rotate.")
@json_option
def rotate(project: str | None, env_name: str, as_json: bool) -> None:
    """Rotate PROJECT's password: pending, set, tested, then current.

    Each step is safe to re-run: if the command is interrupted, run it again
    and it finishes with the same pending password. Restart the app afterwards;
    the old password stops working once rotation is done.
    """
    from vaultgate.provision.flow import open_session
    from vaultgate.provision.rotate import rotate as run_rotate

    manifest, target = target_from("rotate", project, env_name)
    progress = progress_printer(as_json)
    session = open_session(manifest.environment(env_name), progress)
    with session.client:
        result = run_rotate(session, target, progress)
    emit(result, as_json, f"rotated {result['role']}; credential {result['reference']}"
         "\nrestart the app to pick up the new password")
