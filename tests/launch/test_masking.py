"""The masker replaces secrets in a stream, however the stream is chunked."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from vaultgate.launch.masking import Masker, forms
from vaultgate.secret import MASK

M = MASK.encode()


def run(masker: Masker, chunks: list[bytes]) -> bytes:
    return b"".join(masker.feed(c) for c in chunks) + masker.flush()


def test_a_secret_is_masked_at_every_split_point() -> None:
    secret = secrets.token_urlsafe(24).encode()
    text = b"before " + secret + b" after\n"
    for cut in range(len(text) + 1):
        assert run(Masker([secret]), [text[:cut], text[cut:]]) == (
            b"before " + M + b" after\n")


def test_a_secret_split_into_single_bytes_is_masked() -> None:
    secret = secrets.token_hex(16).encode()
    text = secret + b"\n" + secret
    assert run(Masker([secret]), [bytes([b]) for b in text]) == M + b"\n" + M


def test_text_that_cannot_begin_a_secret_is_not_held_back() -> None:
    secret = b"Z" + secrets.token_hex(8).encode()
    masker = Masker([secret])
    assert masker.feed(b"Password: ") == b"Password: "
    assert masker.feed(b"ab" + secret[:3]) == b"ab"
    assert masker.feed(secret[3:] + b".") == M + b"."


def test_a_secret_containing_another_is_masked_whole() -> None:
    short = secrets.token_hex(4).encode()
    long = short + secrets.token_hex(4).encode()
    assert run(Masker([short, long]), [long[:5], long[5:], b" ", short]) == (
        M + b" " + M)


def test_a_prefix_that_never_completes_is_released_at_the_end() -> None:
    secret = secrets.token_hex(8).encode()
    masker = Masker([secret])
    assert masker.feed(b"x" + secret[:6]) == b"x"
    assert masker.flush() == secret[:6]


def test_no_secrets_passes_bytes_through() -> None:
    assert run(Masker([b""]), [b"a", b"b"]) == b"ab"


@given(st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=3),
       st.lists(st.binary(max_size=20), max_size=6),
       st.lists(st.integers(0, 200), max_size=8))
def test_chunking_never_changes_the_result(secrets_: list[bytes],
                                           fillers: list[bytes],
                                           cuts: list[int]) -> None:
    pairs = zip(fillers, secrets_ * len(fillers), strict=False)
    pieces = [b for pair in pairs for b in pair]
    text = b"".join(pieces) + secrets_[0]
    whole = run(Masker(secrets_), [text])
    points = sorted({min(c, len(text)) for c in cuts})
    bounds = zip([0, *points], [*points, len(text)], strict=True)
    chunks = [text[a:b] for a, b in bounds]
    assert run(Masker(secrets_), chunks) == whole
    assert whole.count(M) >= 1


def test_a_url_password_is_masked_decoded_and_encoded() -> None:
    password = f"{secrets.token_urlsafe(9)}@/:#%?"
    encoded = quote(password, safe="")
    url = f"postgresql://app:{encoded}@127.0.0.1:5432/app"
    found = forms([url])
    assert {url.encode(), password.encode(), encoded.encode()} <= set(found)


def test_a_password_in_the_query_string_is_masked_too() -> None:
    password = secrets.token_hex(12)
    found = forms([f"postgresql://127.0.0.1/app?user=app&password={password}"])
    assert password.encode() in found


def test_a_value_that_is_no_url_with_a_password_adds_nothing() -> None:
    values = ["plain-" + secrets.token_hex(8), "https://example.invalid/path",
              "postgresql://app@127.0.0.1/app", "http://[broken"]
    assert forms(values) == [value.encode() for value in values]
