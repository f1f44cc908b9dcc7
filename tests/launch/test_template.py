"""Templates: {{ op://... }} placeholders found, expanded and replaced as is."""

from __future__ import annotations

import pytest

from vaultgate.errors import InvalidReferenceError
from vaultgate.launch.template import placeholders, render
from vaultgate.reference import Reference
from vaultgate.secret import Secret


def test_spaces_inside_the_braces_are_optional() -> None:
    text = "a={{op://v/i/f}} b={{ op://v/i/g }} c={{\top://v/i/h  }}"
    found = placeholders(text, {})
    assert [p.reference.field for p in found] == ["f", "g", "h"]


def test_variables_are_expanded_and_values_inserted_unescaped() -> None:
    text = "X=\"{{ op://$V/item/f }}\"\n"
    found = placeholders(text, {"V": "local"})
    assert found[0].reference == Reference("local", "item", None, "f")
    value = "q\"uo'te $HOME\nnext"
    assert render(text, found, [Secret(value)]) == f'X="{value}"\n'


def test_text_without_placeholders_is_untouched() -> None:
    text = "op://v/i/f {{ not a ref }} { {op://v/i/f} }"
    assert placeholders(text, {}) == []
    assert render(text, [], []) == text


def test_a_bad_reference_names_its_line() -> None:
    with pytest.raises(InvalidReferenceError, match="template line 2"):
        placeholders("ok\n{{ op://v/i }}\n", {})


def test_braced_variables_inside_a_placeholder() -> None:
    found = placeholders("{{ op://${V}/app-${E}/f }}", {"V": "local", "E": "dev"})
    assert found[0].reference == Reference("local", "app-dev", None, "f")
