"""Shared CLI plumbing: error reporting, --json output, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from vaultgate.errors import VaultgateError


def run_cli(group: click.Group, argv: list[str] | None) -> int:
    """Run the group; print one clear line for known errors (traceback with --debug)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        rc = group.main(args=args, prog_name="vaultgate", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 2
    except VaultgateError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return rc if isinstance(rc, int) else 0


def emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    """Print `text` for people, or `data` as one JSON object with --json."""
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        click.echo(text)


def progress_printer(as_json: bool) -> Callable[[str], None]:
    """Progress lines go to stderr for people; --json keeps both streams clean."""
    def progress(message: str) -> None:
        if not as_json:
            click.echo(f"  {message}", err=True)
    return progress


def target_from(command: str, project: str | None, env: str) -> tuple[Any, Any]:
    """The manifest and the validated (project, env) a command works on."""
    from vaultgate import config
    from vaultgate.errors import UsageError
    from vaultgate.names import Target

    manifest = config.load()
    name = project or manifest.project
    if name is None:
        raise UsageError(f"name the project: vaultgate {command} NAME --env ENV "
                         "(or set project = \"NAME\" in vaultgate.toml)")
    return manifest, Target.of(name, env)


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as one JSON object.")
