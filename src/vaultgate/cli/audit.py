"""`vaultgate audit verify`: recompute the gateway's audit hash chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vaultgate.cli._output import emit, json_option


@click.group()
def audit() -> None:
    """Inspect the gateway's audit trail (table vaultgate.audit)."""


@audit.command()
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The gateway's settings (TOML); its vault holds the admin login.")
@click.option("--anchor", metavar="ID:HASH",
              help="A row id and hash kept outside the database (the gateway "
                   "logs one per accepted request, 'audit row ID HASH'); the "
                   "chain must still hold it, which detects deleted newest rows "
                   "and a rewritten chain.")
@json_option
def verify(config_path: Path, anchor: str | None, as_json: bool) -> None:
    """Recompute every row's hash; report the first broken row, exit 1 if any."""
    from vaultgate.gateway import settings as gateway_settings

    settings = gateway_settings.load(config_path)
    report = _check(settings, _parse_anchor(anchor))
    count, broken = report.rows, report.broken
    data: dict[str, Any] = {"rows": count, "ok": broken is None,
                            "head_id": report.head_id, "head_hash": report.head_hash}
    if broken is None:
        emit(data, as_json, f"audit chain intact: {count} rows, head row "
             f"{report.head_id} {report.head_hash}")
        return
    data.update({"broken_row": broken.row_id, "reason": broken.reason})
    emit(data, as_json, f"audit chain broken at row {broken.row_id}: "
         f"{broken.reason}; {count} rows read")
    from vaultgate.errors import DatabaseError

    raise DatabaseError(
        f"the audit chain in database {settings.cluster.database!r} is broken at "
        f"row {broken.row_id}; compare that row with a backup of vaultgate.audit "
        "and find who could write to the database")


def _parse_anchor(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    row_id, _, digest = text.partition(":")
    if not row_id.isdigit() or len(digest) != 64 or not all(
            c in "0123456789abcdef" for c in digest):
        raise click.BadParameter("use ID:HASH, e.g. 42:<64 hex digits>",
                                 param_hint="--anchor")
    return int(row_id), digest


def _check(settings: Any, anchor: tuple[int, str] | None) -> Any:
    import psycopg

    from vaultgate.errors import DatabaseError
    from vaultgate.gateway.audit import SELECT_ROWS, walk
    from vaultgate.vaults import open_vault

    admin = open_vault(settings.vault).get_item(settings.cluster.admin.item)
    c = settings.cluster
    try:
        with psycopg.connect(host=c.host, port=c.port, dbname=c.database,
                             user=admin.text("username"),
                             password=admin.get("password").reveal(),
                             connect_timeout=5) as conn:
            with conn.cursor(name="vaultgate_audit") as cur:
                cur.execute(SELECT_ROWS)
                return walk(cur, anchor)
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot read vaultgate.audit in database {c.database!r} on "
            f"{c.host}:{c.port}: {type(exc).__name__}; check that the gateway "
            "has started once against it and that PostgreSQL is running") from exc
