"""The vaultgate command tree.

Each command lives in its own module and is imported only when it runs, so
`vaultgate --help` and `vaultgate run` start fast. Exit codes: 0 ok, 1 the
operation failed, 2 usage error.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from vaultgate import __version__

# command name -> (module, attribute, one-line help shown by `vaultgate --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "provision": ("vaultgate.cli.provision", "provision",
                  "Provision a project's schema, role and vault credential."),
    "rotate": ("vaultgate.cli.rotate", "rotate",
               "Rotate a project's database password without downtime."),
    "run": ("vaultgate.cli.run", "run",
            "Run a command with op:// references resolved in its environment."),
    "read": ("vaultgate.cli.read", "read", "Print one secret by its reference."),
    "inject": ("vaultgate.cli.inject", "inject",
               "Render a template, replacing {{ op://... }} with secrets."),
    "secret": ("vaultgate.cli.secret", "secret",
               "Generate and rotate app secrets (JWT keys, session keys, ...)."),
    "up": ("vaultgate.cli.stack", "up", "Start the embedded local stack."),
    "down": ("vaultgate.cli.stack", "down", "Stop the embedded local stack."),
    "status": ("vaultgate.cli.stack", "status", "Show the embedded local stack."),
    "gateway": ("vaultgate.cli.gateway", "gateway", "Run the gateway service."),
    "keys": ("vaultgate.cli.keys", "keys", "Manage request-signing keys."),
    "audit": ("vaultgate.cli.audit", "audit", "Inspect the gateway's audit trail."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, spec in COMMANDS.items() if _exists(spec[0])]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None or not _exists(spec[0]):
            return None
        command: click.Command = getattr(importlib.import_module(spec[0]), spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if not rows:
            return
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _exists(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(version=__version__, prog_name="vaultgate")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """vaultgate: PostgreSQL credentials that nobody types, sees or commits.

    Start with `vaultgate provision NAME`: it needs no configuration.
    """
    ctx.obj = {"debug": debug}
    if debug:
        import logging

        # Library loggers name objects and steps, never secret values.
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(levelname)s %(name)s %(message)s")
        logging.getLogger("httpcore").setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command tree and map errors to exit codes."""
    from vaultgate.cli._output import run_cli

    sys.exit(run_cli(cli, argv))
