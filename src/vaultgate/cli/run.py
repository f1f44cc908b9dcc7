"""`vaultgate run`: start a command with op:// references resolved."""

from __future__ import annotations

import os

import click


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.option("--env-file", "env_files", multiple=True,
              type=click.Path(dir_okay=False),
              help="Read variables from this file; may repeat, later files win, "
                   "files win over the shell.")
@click.option("--no-masking", is_flag=True,
              help="Let the command write to the terminal directly, unmasked.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(env_files: tuple[str, ...], no_masking: bool,
        command: tuple[str, ...]) -> None:
    """Run COMMAND with op:// references in its environment resolved.

    References come from the environment and from --env-file files. All are
    resolved before COMMAND starts; if one fails, COMMAND does not start.
    Secrets COMMAND prints are masked unless --no-masking. vaultgate exits
    with COMMAND's exit code (128+N if it died of signal N).

        vaultgate run --env-file .env -- ./serve --port 8000
    """
    from vaultgate.launch import child, environment, masking

    merged = environment.merge(os.environ, env_files)
    resolved = environment.resolve(merged)
    # Nothing to mask: the command keeps the terminal, as with --no-masking.
    masked = bool(resolved.secrets) and not no_masking
    mask = (masking.forms(s.reveal() for s in resolved.secrets)
            if masked else None)
    # SystemExit, not ctx.exit: the child's code must reach the shell as is.
    raise SystemExit(child.run(command, resolved.env, mask))
