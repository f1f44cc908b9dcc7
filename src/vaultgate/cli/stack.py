"""`vaultgate up`, `down` and `status`: the embedded local stack."""

from __future__ import annotations

import click

from vaultgate.cli._output import emit, json_option
from vaultgate.localstack.stack import LocalStack, StackStatus
from vaultgate.paths import state_dir


def _progress(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@json_option
def up(as_json: bool) -> None:
    """Start the embedded PostgreSQL and the gateway (created on first run)."""
    info = LocalStack(state_dir()).up(progress=_progress)
    text = (f"local stack up: gateway {info.gateway_url}, PostgreSQL "
            f"{info.pg_version} on {info.pg_host}:{info.pg_port} "
            f"(database {info.database})")
    emit(info.to_dict(), as_json, text)


@click.command()
@click.option("--purge", is_flag=True,
              help="Also delete the PostgreSQL cluster folder and every database "
                   "in it, without asking; the vault is kept.")
@json_option
def down(purge: bool, as_json: bool) -> None:
    """Stop the gateway and the embedded PostgreSQL; data and vault are kept."""
    status = LocalStack(state_dir()).down(progress=_progress, purge=purge)
    vault = status.paths.get("vault", "")
    if purge:
        text = f"local stack stopped; cluster deleted, vault kept in {vault}"
    else:
        text = (f"local stack stopped; data kept in {status.data_dir} (delete it "
                f"with `vaultgate down --purge`), vault in {vault}")
    emit(status.to_dict(), as_json, text)


@click.command()
@json_option
def status(as_json: bool) -> None:
    """Show whether the local stack runs, and where."""
    report = LocalStack(state_dir()).status()
    emit(report.to_dict(), as_json, _describe(report))


def _describe(report: StackStatus) -> str:
    pg = (f"running on 127.0.0.1:{report.pg_port} (pid {report.pg_pid})"
          if report.postgres_running else "stopped")
    gw = (f"running at {report.gateway_url} (pid {report.gateway_pid})"
          if report.gateway_running else "stopped")
    return f"PostgreSQL: {pg}\ngateway:    {gw}\ndata:       {report.data_dir}"
