"""`vaultgate gateway serve`: run the gateway service."""

from __future__ import annotations

from pathlib import Path

import click

from vaultgate.cli._output import emit, json_option, progress_printer


@click.group()
def gateway() -> None:
    """Run the gateway: the only process that talks to PostgreSQL as admin."""


@gateway.command()
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Gateway settings (TOML, references only, no secrets).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning"]))
@click.option("--log-format", default="json", show_default=True,
              type=click.Choice(["json", "text"]),
              help="One JSON object per line, or plain text lines.")
def serve(config_path: Path, log_level: str, log_format: str) -> None:
    """Serve the signed provisioning API on the configured loopback port."""
    import uvicorn

    from vaultgate.gateway import settings as gateway_settings
    from vaultgate.gateway.app import create_app

    settings = gateway_settings.load(config_path)
    from vaultgate.gateway.logs import configure

    configure(log_level, log_format)
    uvicorn.run(create_app(settings), host=settings.listen_host,
                port=settings.listen_port, log_level="warning", log_config=None,
                access_log=False,
                server_header=False, date_header=False)


@gateway.command()
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The gateway's settings: cluster, database and vault to use.")
@click.option("--admin-dsn", required=True, metavar="DSN",
              help="libpq connection string of an administrator, without a "
                   "password (peer auth or ~/.pgpass), e.g. 'host=/run/postgresql "
                   "user=postgres'.")
@click.option("--role", default="vaultgate_gateway", show_default=True,
              help="The gateway's own role to create (never a superuser).")
@json_option
def bootstrap(config_path: Path, admin_dsn: str, role: str, as_json: bool) -> None:
    """Set up a cluster for a gateway, once: its role, database and login.

    Creates a LOGIN CREATEROLE role with a generated password (sent as a
    SCRAM verifier), a database it owns, and the vault item named by the
    settings' cluster.admin. Running it again converges.
    """
    from dataclasses import asdict

    from vaultgate.gateway import settings as gateway_settings
    from vaultgate.gateway.bootstrap import bootstrap as run_bootstrap

    settings = gateway_settings.load(config_path)
    done = run_bootstrap(settings, admin_dsn, role, progress_printer(as_json))
    emit(asdict(done), as_json,
         f"gateway role {done.role} owns database {done.database}; its login is "
         f"in vault item {done.item}")
