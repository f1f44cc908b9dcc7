"""`vaultgate read`: print one secret by its reference."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("reference")
@click.option("-n", "--no-newline", is_flag=True, help="Print no trailing newline.")
@click.option("-o", "--out-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the secret to this file (mode 0600) instead of stdout.")
def read(reference: str, no_newline: bool, out_file: Path | None) -> None:
    """Print the secret REFERENCE points to (op://vault/item[/section]/field)."""
    from vaultgate.reference import parse
    from vaultgate.resolve import resolve

    ref = parse(reference)
    (value,) = resolve([ref])
    data = value.reveal_bytes() + (b"" if no_newline else b"\n")
    if out_file is not None:
        from vaultgate.launch.files import write_private

        write_private(out_file, data)
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
