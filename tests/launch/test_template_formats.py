"""Injected values read back byte for byte in their target format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultgate.errors import UsageError
from vaultgate.launch import envfile
from vaultgate.launch.template import detect_format, placeholders, render
from vaultgate.secret import Secret

REF = "{{ op://local/app-dev/credential }}"
# Any text a secret may hold, but NUL (no env var can carry it) and lone
# surrogates (not text).
VALUES = st.text(st.characters(blacklist_categories=("Cs",),
                               blacklist_characters="\x00"), max_size=200)
ODD = ["$HOME ${X} $", "it's \"quoted\"", "two\nlines\r\n", "back\\slash\\n",
       "# not a comment", " padded ", "ünïcode ✓", "=a=b=", "x" * 4096, ""]


def rendered(template: str, value: str, fmt: str) -> str:
    found = placeholders(template, {})
    return render(template, found, [Secret(value)], fmt)


@pytest.mark.parametrize("value", ODD)
@pytest.mark.parametrize("template", [f'KEY="{REF}"\n', f"KEY={REF}\n",
                                      f"export KEY = {REF}  # note\n"])
def test_dotenv_values_read_back_intact(template: str, value: str) -> None:
    text = rendered(template, value, "dotenv")
    assert envfile.parse(text)["KEY"] == value


@pytest.mark.parametrize("value", ODD)
@pytest.mark.parametrize("template", [f'KEY="{REF}"\n', f"KEY={REF}\n"])
def test_python_dotenv_reads_them_back_too(tmp_path: Path, template: str,
                                           value: str) -> None:
    path = tmp_path / ".env"
    path.write_text(rendered(template, value, "dotenv"), encoding="utf-8")
    assert dotenv_values(path, interpolate=False)["KEY"] == value


@settings(max_examples=300)
@given(VALUES)
def test_any_value_survives_a_dotenv_round_trip(value: str) -> None:
    for template in (f'KEY="{REF}"\n', f"KEY={REF}\n"):
        assert envfile.parse(rendered(template, value, "dotenv"))["KEY"] == value


@settings(max_examples=300)
@given(VALUES)
def test_any_value_survives_a_json_round_trip(value: str) -> None:
    quoted = rendered('{"key": "' + REF + '"}', value, "json")
    bare = rendered('{"key": ' + REF + "}", value, "json")
    assert json.loads(quoted)["key"] == json.loads(bare)["key"] == value


def test_single_quotes_hold_anything_but_a_single_quote() -> None:
    template = f"KEY='{REF}'\n"
    assert envfile.parse(rendered(template, 'a"$b\nc', "dotenv"))["KEY"] == 'a"$b\nc'
    with pytest.raises(UsageError, match="single quote"):
        rendered(template, "it's", "dotenv")


def test_raw_keeps_op_injects_behaviour() -> None:
    assert rendered(f'KEY="{REF}"', 'a"b', "raw") == 'KEY="a"b"'


@pytest.mark.parametrize("name, fmt", [(".env", "dotenv"), ("prod.env", "dotenv"),
                                       (".env.local", "dotenv"),
                                       ("config.json", "json"), ("app.yaml", "raw")])
def test_the_format_follows_the_file_name(name: str, fmt: str) -> None:
    assert detect_format(None, Path(name)) == fmt
