"""`vaultgate inject`: render a template, replacing {{ op://... }} with secrets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from vaultgate.errors import UsageError


@click.command()
@click.option("-i", "--in-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Template to read (default: stdin).")
@click.option("-o", "--out-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write, mode 0600 (default: stdout).")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "raw", "dotenv", "json"]),
              help="How values are written: raw as is (like op inject); dotenv "
                   "and json escaped so the file reads back byte for byte. auto "
                   "picks dotenv for .env files, json for *.json, else raw.")
def inject(in_file: Path | None, out_file: Path | None, fmt: str) -> None:
    """Render a template: each {{ op://vault/item/field }} becomes its secret.

    Every reference is resolved before anything is written. In a dotenv or
    JSON template a value with quotes, `$`, backslashes or newlines is
    escaped for its place (inside double quotes, single quotes, or bare), so
    reading the file back gives the secret unchanged. A template without
    references passes through unchanged.
    """
    from vaultgate.launch import template
    from vaultgate.resolve import resolve

    text = _read_template(in_file)
    found = template.placeholders(text, os.environ)
    values = resolve([p.reference for p in found])
    if fmt == "auto":
        fmt = template.detect_format(out_file, in_file)
    data = template.render(text, found, values, fmt).encode(
        "utf-8", "surrogateescape")
    if out_file is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from vaultgate.launch.files import write_private

    write_private(out_file, data)


def _read_template(path: Path | None) -> str:
    # surrogateescape: bytes that are not UTF-8 pass through unchanged.
    if path is None:
        return sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise UsageError(f"cannot read template {path}: {exc.strerror}; "
                         "check the --in-file path") from exc

