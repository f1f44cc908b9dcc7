"""`vaultgate inject` renders {{ op://... }} templates, values intact."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from tests.launch.helpers import local_vault, nasty_value, vaultgate


@pytest.fixture
def values(vaultgate_home: Path) -> dict[str, str]:
    fields = {"odd": nasty_value(), "big": nasty_value(4096), "plain": "p" * 8}
    local_vault().create_item("app-dev", fields)
    return fields


def test_placeholders_are_replaced_with_values_as_they_are(tmp_path, values) -> None:
    template = (b"# dotenv\nODD=\"{{ op://local/app-dev/odd }}\"\n"
                b"BIG='{{op://local/app-dev/big}}'\n"
                b"PLAIN={{  op://local/app-dev/plain }}\n"
                b"KEEP=$HOME \xff not utf-8\n")
    result = vaultgate("inject", cwd=tmp_path, input=template)
    assert result.returncode == 0, result.stderr
    expected = (f"# dotenv\nODD=\"{values['odd']}\"\nBIG='{values['big']}'\n"
                f"PLAIN={values['plain']}\n").encode() + b"KEEP=$HOME \xff not utf-8\n"
    assert result.stdout == expected


def test_in_and_out_files_and_out_is_0600(tmp_path, values) -> None:
    (tmp_path / "app.tpl").write_text("x: {{ op://$VAULT/app-${ENV}/odd }}\n")
    out = tmp_path / "app.yml"
    result = vaultgate("inject", "-i", "app.tpl", "-o", "app.yml", cwd=tmp_path,
                       env={"VAULT": "local", "ENV": "dev"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text() == f"x: {values['odd']}\n"


def test_a_template_without_references_passes_through(tmp_path, vaultgate_home) -> None:
    text = b"plain op://local/x/y {{ not }} \x00\xfe\n"
    result = vaultgate("inject", cwd=tmp_path, input=text)
    assert result.returncode == 0
    assert result.stdout == text
    assert list(vaultgate_home.iterdir()) == []


@pytest.mark.parametrize("ref, words", [
    ("op://local/app-dev/absent", "field 'absent' not found"),
    ("op://local/app-dev", "invalid secret reference"),
    ("op://other/app-dev/odd", "vault 'other'"),
])
def test_a_failure_writes_nothing(tmp_path, values, ref, words) -> None:
    template = f"A={{{{ op://local/app-dev/odd }}}}\nB={{{{ {ref} }}}}\n".encode()
    result = vaultgate("inject", "-o", "out", cwd=tmp_path, input=template)
    assert result.returncode != 0
    assert not (tmp_path / "out").exists()
    assert words in result.stderr.decode()
    assert values["odd"] not in result.stderr.decode()


def test_a_missing_template_is_a_usage_error(tmp_path, vaultgate_home) -> None:
    result = vaultgate("inject", "-i", "absent.tpl", cwd=tmp_path)
    assert result.returncode == 2
    assert b"absent.tpl" in result.stderr


def test_an_injected_env_file_reads_back_intact_through_run(tmp_path, values) -> None:
    """inject -o .env escapes for dotenv; run --env-file reads the same bytes."""
    (tmp_path / "env.tpl").write_text(
        'ODD="{{ op://local/app-dev/odd }}"\nBARE={{ op://local/app-dev/odd }}\n')
    made = vaultgate("inject", "-i", "env.tpl", "-o", ".env", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    script = ("import os, sys; sys.stdout.buffer.write("
              "(os.environ['ODD'] + '|' + os.environ['BARE']).encode())")
    run = vaultgate("run", "--no-masking", "--env-file", ".env", "--", "python3",
                    "-c", script, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode() == values["odd"] + "|" + values["odd"]
