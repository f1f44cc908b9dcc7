"""op:// references parse exactly as 1Password's secret reference syntax says."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultgate.errors import InvalidReferenceError
from vaultgate.reference import Reference, is_id, is_reference, parse

R = Reference
ID = "4l3udxihvvuhszh2kxyjbblxl4"

VALID = [
    ("op://dev/billing-dev/password", R("dev", "billing-dev", None, "password")),
    ("op://dev/billing-dev/host", R("dev", "billing-dev", None, "host")),
    ("op://Dev/Billing-Dev/Password", R("Dev", "Billing-Dev", None, "Password")),
    ("op://my vault/my item/my field", R("my vault", "my item", None, "my field")),
    ("op://v/i/s/f", R("v", "i", "s", "f")),
    ("op://Management/PagerDuty/Admin/email",
     R("Management", "PagerDuty", "Admin", "email")),
    ("op://dev/Stripe/publishable-key", R("dev", "Stripe", None, "publishable-key")),
    ("op://a.b/c_d/e-f", R("a.b", "c_d", None, "e-f")),
    ("op://v/i/f.txt", R("v", "i", None, "f.txt")),
    (f"op://{ID}/{ID}/{ID}", R(ID, ID, None, ID)),
    (f"op://Prod/{ID}/password", R("Prod", ID, None, "password")),
    ("op://v/i/password?attribute=type", R("v", "i", None, "password", "type")),
    ("op://v/i/password?attribute=id", R("v", "i", None, "password", "id")),
    ("op://v/i/password?attribute=purpose", R("v", "i", None, "password", "purpose")),
    ("op://v/i/password?attribute=value", R("v", "i", None, "password", "value")),
    ("op://v/i/password?attribute=title", R("v", "i", None, "password", "title")),
    ("op://v/i/one-time password?attribute=otp",
     R("v", "i", None, "one-time password", "otp")),
    ("op://v/i/password?attr=type", R("v", "i", None, "password", "type")),
    ("op://v/i/password?attribute=TYPE", R("v", "i", None, "password", "type")),
    ("op://v/i/s/f?attribute=id", R("v", "i", "s", "f", "id")),
    ("op://1/2/3", R("1", "2", None, "3")),
    ("op://v/i/a b  c", R("v", "i", None, "a b  c")),
    ("op://v/i/...", R("v", "i", None, "...")),
]

INVALID = [
    ("", "must start with op://"),
    ("op:/v/i/f", "must start with op://"),
    ("OP://v/i/f", "must start with op://"),
    ("https://v/i/f", "must start with op://"),
    ("v/i/f", "must start with op://"),
    ("op://", "empty segment"),
    ("op://v", "expected op://vault/item"),
    ("op://v/i", "expected op://vault/item"),
    ("op://v/i/s/f/x", "expected op://vault/item"),
    ("op://v//f", "empty segment"),
    ("op:///i/f", "empty segment"),
    ("op://v/i/f/", "empty segment"),
    ("op://v/i/", "empty segment"),
    ("op://v/i/f?", "only query"),
    ("op://v/i/f?attribute", "only query"),
    ("op://v/i/f?foo=type", "only query"),
    ("op://v/i/f?attribute=type&attr=id", "only query"),
    ("op://v/i/f?attribute=colour", "unknown attribute"),
    ("op://v/i/f?attribute=", "unknown attribute"),
    ("op://v/i/f?ssh-format=openssh", "only query"),
    ("op://v/i/f#frag", "character"),
    ("op://v/i/f:x", "character"),
    ("op://v/i/f@x", "character"),
    ("op://v/i/f%20", "character"),
    ("op://v/i/caf\u00e9", "character"),
    ("op://v/i/tab\tfield", "character"),
    ("op://v/i/line\nfield", "character"),
    ("op://v/i/$NAME", "character"),
    ("op://v/i/{{f}}", "character"),
    ("op://v/i/f\\x", "character"),
    ("op://v/ i/f", "starts or ends with a space"),
    ("op://v/i /f", "starts or ends with a space"),
    ("op://v/i/ ", "starts or ends with a space"),
    ("op://v/i/f\x00", "character"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_reference_parses_to_its_parts(text: str, expected: Reference) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "why"), INVALID)
def test_invalid_reference_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidReferenceError, match="invalid secret reference") as exc:
        parse(text)
    assert why in str(exc.value)


def test_table_holds_at_least_forty_cases() -> None:
    assert len(VALID) + len(INVALID) >= 40


def test_item_reference_parses_only_when_no_field_is_required() -> None:
    assert parse("op://dev/billing-dev", require_field=False) == R("dev", "billing-dev")
    assert parse("op://dev/b/password", require_field=False).field == "password"
    with pytest.raises(InvalidReferenceError):
        parse("op://dev/billing-dev")


def test_item_reference_cannot_carry_an_attribute() -> None:
    with pytest.raises(InvalidReferenceError, match="needs a field"):
        parse("op://dev/billing-dev?attribute=id", require_field=False)


def test_text_that_is_not_a_reference_is_never_echoed() -> None:
    pasted = "hunter-" + "x" * 20
    with pytest.raises(InvalidReferenceError) as exc:
        parse(pasted)
    assert pasted not in str(exc.value)


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidReferenceError):
        parse(None)  # type: ignore[arg-type]


def test_attr_alias_formats_as_attribute() -> None:
    assert str(parse("op://v/i/f?attr=id")) == "op://v/i/f?attribute=id"


def test_key_matches_references_case_insensitively() -> None:
    upper = parse("op://Dev/Billing/PASSWORD")
    assert upper.key() == parse("op://dev/billing/password").key()


def test_ids_are_recognised_in_either_case() -> None:
    assert is_id(ID) and is_id(ID.upper())
    assert not is_id("billing-dev") and not is_id(ID[:-1])


def test_is_reference_checks_the_scheme_only() -> None:
    assert is_reference("op://x")
    assert not is_reference("x")
    assert not is_reference(3)  # type: ignore[arg-type]


# -- properties -----------------------------------------------------------------

_NAME_CHARS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. ")
_SEGMENTS = st.text(_NAME_CHARS, min_size=1, max_size=20).filter(
    lambda s: s.strip() == s)
_ATTRS = st.none() | st.sampled_from(["type", "value", "title", "id", "purpose", "otp"])


@st.composite
def references(draw: st.DrawFn) -> Reference:
    section = draw(st.none() | _SEGMENTS)
    return Reference(draw(_SEGMENTS), draw(_SEGMENTS), section, draw(_SEGMENTS),
                     draw(_ATTRS))


@given(references())
def test_round_trip_of_valid_references(ref: Reference) -> None:
    assert parse(str(ref)) == ref


@given(st.text() | st.text().map(lambda s: "op://" + s))
def test_any_text_gives_a_reference_or_invalid_reference_error(text: str) -> None:
    try:
        result = parse(text)
    except InvalidReferenceError:
        return
    assert isinstance(result, Reference)
    assert parse(str(result)) == result
