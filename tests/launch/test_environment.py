"""The child's environment: shell, then env files in order, references parsed."""

from __future__ import annotations

import pytest

from vaultgate.errors import InvalidReferenceError, UsageError
from vaultgate.launch.environment import expand, merge, references
from vaultgate.reference import Reference


def test_files_win_over_the_shell_and_later_files_over_earlier(tmp_path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("A=file1\nB=file1\n")
    second.write_text("B=file2\n")
    merged = merge({"A": "shell", "B": "shell", "C": "shell"}, [first, second])
    assert merged == {"A": "file1", "B": "file2", "C": "shell"}


def test_variables_in_a_reference_are_expanded() -> None:
    env = {"APP_ENV": "dev", "VAULT": "local"}
    assert expand("op://$VAULT/billing-${APP_ENV}/password", env) == (
        "op://local/billing-dev/password")


def test_an_unset_variable_names_itself_and_the_reference() -> None:
    with pytest.raises(UsageError, match=r"\$APP_ENV, which is not set"):
        expand("op://local/billing-$APP_ENV/password", {})


def test_only_reference_values_are_taken_and_expanded() -> None:
    env = {"APP_ENV": "dev", "DB": "op://local/billing-$APP_ENV/password",
           "PLAIN": "$not expanded"}
    assert references(env) == {
        "DB": Reference("local", "billing-dev", None, "password")}


def test_a_bad_reference_names_its_variable() -> None:
    with pytest.raises(InvalidReferenceError, match="^DB: invalid secret reference"):
        references({"DB": "op://local/only-item"})
