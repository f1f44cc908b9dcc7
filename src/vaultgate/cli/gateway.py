"""`vaultgate gateway serve`: run the gateway service."""

from __future__ import annotations

from pathlib import Path

import click


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
