"""Env files parse as `op run --env-file` reads them."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultgate.errors import UsageError
from vaultgate.launch.envfile import load, parse


def test_every_documented_form_parses() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value\n"
        "SPACED = spaced value  \n"
        "export EXPORTED=op://local/app-dev/credential\n"
        "  export   INDENTED=yes\n"
        "SINGLE='literal $HOME \\n # not a comment'\n"
        'DOUBLE="tab\\there \\"q\\" \\\\ \\$HOME"\n'
        "INLINE=value # a comment\n"
        "HASH=value#kept\n"
        "EMPTY=\n"
        "EQUALS=a=b==c\n"
    )
    assert parse(text) == {
        "PLAIN": "value",
        "SPACED": "spaced value",
        "EXPORTED": "op://local/app-dev/credential",
        "INDENTED": "yes",
        "SINGLE": "literal $HOME \\n # not a comment",
        "DOUBLE": 'tab\there "q" \\ $HOME',
        "INLINE": "value",
        "HASH": "value#kept",
        "EMPTY": "",
        "EQUALS": "a=b==c",
    }


def test_quoted_values_span_lines_and_crlf_is_read_as_lf() -> None:
    text = "A='one\r\ntwo'\r\nB=\"x\r\ny\" # c\r\nC=3\r\n"
    assert parse(text) == {"A": "one\ntwo", "B": "x\ny", "C": "3"}


def test_a_later_key_wins_within_a_file() -> None:
    assert parse("K=first\nK=second\n") == {"K": "second"}


def test_a_variable_named_export_is_a_plain_key() -> None:
    assert parse("export=1\nexports=2\n") == {"export": "1", "exports": "2"}


@pytest.mark.parametrize("text, words", [
    ("NOEQUALS\n", "without '='"),
    ("1BAD=x\n", "expected KEY=VALUE"),
    ("K='open\n", "never closed"),
    ('K="a" trailing\n', "unexpected text"),
])
def test_a_bad_line_names_file_and_line(text: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse("OK=1\n" + text, "app.env")
    assert words in str(caught.value)
    assert "app.env, line 2" in str(caught.value)


def test_an_error_never_shows_the_value() -> None:
    with pytest.raises(UsageError) as caught:
        parse("K='an unclosed value that might be secret\n")
    assert "might be secret" not in str(caught.value)


@pytest.mark.parametrize("template", [
    "{token}\n", "{token} value\n", "{token}='open\n", '{token}="a" trailing\n',
    "{token}:x:19000:0:99999:7:::\n",
])
def test_an_error_shows_no_content_of_the_file(tmp_path, template: str) -> None:
    """A pasted token (or /etc/shadow's user name) stays out of the message."""
    token = "k" + secrets.token_hex(20)
    path = tmp_path / "app.env"
    path.write_text("OK=1\n" + template.format(token=token))
    with pytest.raises(UsageError) as caught:
        load(str(path))
    message = str(caught.value)
    assert f"env file {path}, line 2:" in message
    assert token not in message and token[:8] not in message


def test_a_missing_file_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot read env file"):
        load(tmp_path / "absent.env")


def test_a_bom_is_ignored(tmp_path) -> None:
    path = tmp_path / "bom.env"
    path.write_bytes(b"\xef\xbb\xbfK=v\n")
    assert load(path) == {"K": "v"}


_values = st.text(st.characters(blacklist_characters="\0\r",
                                blacklist_categories=("Cs",)))


@given(_values.filter(lambda v: "'" not in v))
def test_single_quoted_values_round_trip(value: str) -> None:
    assert parse(f"K='{value}'\n") == {"K": value}


@given(_values)
def test_double_quoted_values_round_trip(value: str) -> None:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    assert parse(f'export K = "{escaped}"  # c\n') == {"K": value}
