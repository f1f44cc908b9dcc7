"""The request-signing profile: round trips, every tampering, and fuzzed fields."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaultgate.errors import ConfigError, SigningError
from vaultgate.secret import Secret
from vaultgate.signing import (
    BodyTooLarge,
    SignatureRejected,
    SigningKey,
    Verified,
    Verifier,
    _rfc9421,
    _verify,
    check_scope,
    content_digest,
    sign_request,
)

NOW = 1_760_000_000
URL = "http://127.0.0.1:8470/v1/provision"
BODY = b'{"project":"billing","env":"dev"}'


def new_secret(nbytes: int = 32) -> Secret:
    raw = secrets.token_bytes(nbytes)
    return Secret(base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"))


def new_key(key_id: str = "k1", **scope: object) -> SigningKey:
    return SigningKey(key_id, new_secret(), **scope)  # type: ignore[arg-type]


@dataclass
class Request:
    method: str
    authority: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key == name)

    def with_header(self, name: str, value: str) -> Request:
        headers = [(k, value if k == name else v) for k, v in self.headers]
        return replace(self, headers=headers)


def signed(
    key: SigningKey,
    *,
    url: str = URL,
    body: bytes = BODY,
    method: str = "POST",
    **options: object,
) -> Request:
    options.setdefault("created", NOW)
    headers = sign_request(method, url, body, key, **options)  # type: ignore[arg-type]
    target = url.split("://", 1)[1]
    authority, _, rest = target.partition("/")
    path, _, query = ("/" + rest).partition("?")
    pairs = [("host", authority), ("accept", "*/*")]
    pairs += [(name.lower(), value) for name, value in headers.items()]
    return Request(method, authority, path, query, pairs, body)


def verifier(*keys: SigningKey, now: float = NOW, **options: int) -> Verifier:
    known = {key.key_id: key for key in keys}
    return Verifier(known.get, clock=lambda: now, **options)


def verify(v: Verifier, request: Request) -> Verified:
    return v.verify(
        request.method,
        request.authority,
        request.path,
        request.query,
        request.headers,
        request.body,
    )


def refused(v: Verifier, request: Request) -> str:
    with pytest.raises(SignatureRejected) as info:
        verify(v, request)
    assert str(info.value) == "the request signature was refused"
    return info.value.reason


# Round trips


def test_a_signed_request_verifies_and_returns_key_nonce_and_times() -> None:
    key = new_key()
    request = signed(key, nonce="n" * 24, ttl=120)
    verified = verify(verifier(key), request)
    assert verified == Verified(key, "n" * 24, NOW, NOW + 120)


def test_sign_request_returns_exactly_the_four_profile_headers() -> None:
    headers = sign_request("POST", URL, BODY, new_key(), created=NOW)
    assert list(headers) == [
        "Content-Type",
        "Content-Digest",
        "Signature-Input",
        "Signature",
    ]
    assert headers["Content-Digest"] == content_digest(BODY)


def test_a_query_and_an_empty_body_round_trip() -> None:
    key = new_key()
    request = signed(key, url=URL + "?dry_run=1&b=%20x", body=b"")
    assert request.query == "dry_run=1&b=%20x"
    verify(verifier(key), request)


def test_each_signature_gets_a_fresh_nonce_by_default() -> None:
    key = new_key()
    one, two = verify(verifier(key), signed(key)), verify(verifier(key), signed(key))
    assert one.nonce != two.nonce


def test_a_default_port_is_left_out_of_the_authority() -> None:
    key = new_key()
    request = signed(key, url="http://localhost:80/v1/provision")
    verify(verifier(key), replace(request, authority="localhost"))


def test_the_signature_base_is_the_documented_one() -> None:
    """An HMAC computed by hand over docs/signing.md's base verifies."""
    key = new_key()
    request = signed(key, url=URL, ttl=60, nonce="0123456789abcdef")
    params = (
        f'created={NOW};keyid="k1";alg="hmac-sha256";expires={NOW + 60};'
        'nonce="0123456789abcdef"'
    )
    base = "\n".join(
        [
            '"@method": POST',
            '"@authority": 127.0.0.1:8470',
            '"@path": /v1/provision',
            '"@query": ?',
            '"content-type": application/json',
            f'"content-digest": {content_digest(BODY)}',
            '"@signature-params": ("@method" "@authority" "@path" "@query" '
            f'"content-type" "content-digest");{params}',
        ]
    )
    raw_key = base64.urlsafe_b64decode(key.secret.reveal() + "=")
    mac = hmac.new(raw_key, base.encode("ascii"), hashlib.sha256).digest()
    assert request.header("signature") == f"sig=:{base64.b64encode(mac).decode()}:"


# Tampering: each change to a signed request is refused


def _swap_param(name: str, value: str) -> Callable[[Request], Request]:
    def change(request: Request) -> Request:
        old = request.header("signature-input")
        head, _, tail = old.partition(f";{name}=")
        rest = tail.partition(";")[2]
        new = f"{head};{name}={value}" + (f";{rest}" if rest else "")
        return request.with_header("signature-input", new)

    return change


def _flip_signature(request: Request) -> Request:
    raw = bytearray(base64.b64decode(request.header("signature")[5:-1]))
    raw[0] ^= 1
    return request.with_header("signature", f"sig=:{base64.b64encode(raw).decode()}:")


def _other_body_and_digest(request: Request) -> Request:
    body = BODY.replace(b"billing", b"payroll")
    changed = replace(request, body=body)
    return changed.with_header("content-digest", content_digest(body))


TAMPERINGS: dict[str, Callable[[Request], Request]] = {
    "method": lambda r: replace(r, method="PUT"),
    "authority": lambda r: replace(r, authority="127.0.0.1:8471"),
    "path": lambda r: replace(r, path="/v1/rotate"),
    "query added": lambda r: replace(r, query="force=1"),
    "content-type": lambda r: r.with_header("content-type", "text/plain"),
    "body": lambda r: replace(r, body=BODY + b" "),
    "body and digest": _other_body_and_digest,
    "digest header": lambda r: r.with_header("content-digest", content_digest(b"")),
    "signature bytes": _flip_signature,
    "created": _swap_param("created", str(NOW - 1)),
    "expires": _swap_param("expires", str(NOW + 61)),
    "nonce": _swap_param("nonce", '"AAAAAAAAAAAAAAAAAAAAAAAA"'),
    "keyid of another key": _swap_param("keyid", '"k2"'),
    "keyid unknown": _swap_param("keyid", '"k9"'),
    "alg": _swap_param("alg", '"hmac-sha512"'),
    "alg as token": _swap_param("alg", "hmac-sha256"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_a_tampered_request_is_refused(name: str) -> None:
    key, other = new_key("k1"), new_key("k2")
    request = signed(key, nonce="n" * 24)
    refused(verifier(key, other), TAMPERINGS[name](request))


def test_a_tampered_query_value_is_refused() -> None:
    key = new_key()
    request = signed(key, url=URL + "?a=1")
    refused(verifier(key), replace(request, query="a=2"))


def test_a_signature_by_an_unknown_key_is_refused() -> None:
    reason = refused(verifier(new_key("k1")), signed(new_key("k2")))
    assert reason == "unknown key id k2"


def test_another_key_under_a_known_key_id_is_refused() -> None:
    reason = refused(verifier(new_key("k1")), signed(new_key("k1")))
    assert reason == "signature check failed for key k1"


# Components, labels, parameters


COMPONENT_LISTS = {
    "reordered": '("@authority" "@method" "@path" "@query" "content-type" '
    '"content-digest")',
    "missing query": '("@method" "@authority" "@path" "content-type" "content-digest")',
    "extra": '("@method" "@authority" "@path" "@query" "content-type" '
    '"content-digest" "host")',
    "target-uri": '("@method" "@target-uri" "content-type" "content-digest")',
    "with params": '("@method" "@authority" "@path" "@query" "content-type" '
    '"content-digest";sf)',
    "tokens": '("@method" "@authority" "@path" "@query" content-type content-digest)',
}


@pytest.mark.parametrize("name", COMPONENT_LISTS)
def test_another_component_list_is_refused(name: str) -> None:
    key = new_key()
    request = signed(key)
    params = request.header("signature-input").partition(")")[2]
    value = f"sig={COMPONENT_LISTS[name]}{params}"
    refused(verifier(key), request.with_header("signature-input", value))


@pytest.mark.parametrize("param", ["created", "expires", "nonce", "keyid", "alg"])
def test_a_missing_parameter_is_refused(param: str) -> None:
    key = new_key()
    request = signed(key)
    parts = request.header("signature-input").split(";")
    kept = ";".join(p for p in parts if not p.startswith(f"{param}="))
    refused(verifier(key), request.with_header("signature-input", kept))


@pytest.mark.parametrize("extra", ['tag="vaultgate"', "x=1", "flag", "alg2=?0"])
def test_an_unknown_parameter_is_refused(extra: str) -> None:
    key = new_key()
    request = signed(key)
    value = request.header("signature-input") + ";" + extra
    assert "parameters" in refused(
        verifier(key), request.with_header("signature-input", value)
    )


def test_a_duplicate_parameter_is_refused() -> None:
    key = new_key()
    request = signed(key)
    value = request.header("signature-input") + f";created={NOW}"
    refused(verifier(key), request.with_header("signature-input", value))


@pytest.mark.parametrize("field", ["signature-input", "signature"])
def test_another_label_is_refused(field: str) -> None:
    key = new_key()
    request = signed(key)
    value = "other" + request.header(field)[3:]
    refused(verifier(key), request.with_header(field, value))


@pytest.mark.parametrize("field", ["signature-input", "signature"])
def test_a_duplicate_label_is_refused(field: str) -> None:
    key = new_key()
    request = signed(key)
    value = request.header(field)
    assert "duplicate" in refused(
        verifier(key), request.with_header(field, f"{value}, {value}")
    )


@pytest.mark.parametrize("field", ["signature-input", "signature"])
def test_a_second_signature_is_refused(field: str) -> None:
    key = new_key()
    request = signed(key)
    value = request.header(field)
    second = f"{value}, sig2={value[4:]}"
    refused(verifier(key), request.with_header(field, second))


FIELDS = ["content-type", "content-digest", "signature-input", "signature"]


@pytest.mark.parametrize("field", FIELDS)
def test_a_duplicate_header_is_refused(field: str) -> None:
    key = new_key()
    request = signed(key)
    headers = [*request.headers, (field, request.header(field))]
    assert "duplicate" in refused(verifier(key), replace(request, headers=headers))


@pytest.mark.parametrize("field", FIELDS)
def test_a_missing_header_is_refused(field: str) -> None:
    key = new_key()
    request = signed(key)
    headers = [(k, v) for k, v in request.headers if k != field]
    assert "missing" in refused(verifier(key), replace(request, headers=headers))


@pytest.mark.parametrize("field", FIELDS)
def test_an_empty_header_is_refused(field: str) -> None:
    key = new_key()
    refused(verifier(key), signed(key).with_header(field, ""))


def test_header_names_are_matched_without_case() -> None:
    key = new_key()
    request = signed(key)
    headers = [(k.title(), v) for k, v in request.headers]
    verify(verifier(key), replace(request, headers=headers))


# Signature and digest encodings


def test_an_unpadded_signature_is_refused() -> None:
    key = new_key()
    request = signed(key)
    value = request.header("signature")[:-2] + ":"
    assert "canonical" in refused(
        verifier(key), request.with_header("signature", value)
    )


def test_a_short_signature_is_refused() -> None:
    key = new_key()
    value = f"sig=:{base64.b64encode(bytes(31)).decode()}:"
    refused(verifier(key), signed(key).with_header("signature", value))


def test_bad_base64_is_refused() -> None:
    key = new_key()
    refused(verifier(key), signed(key).with_header("signature", "sig=:!!!!:"))


@pytest.mark.parametrize(
    "digest",
    [
        "sha-512=:{512}:",
        "sha-256=:{256}:, sha-512=:{512}:",
        "sha-256={256}",
        'sha-256=:{256}:;a="b"',
        "md5=:AAAAAAAAAAAAAAAAAAAAAA==:",
    ],
)
def test_another_digest_shape_or_algorithm_is_refused(digest: str) -> None:
    key = new_key()
    request = signed(key)
    sha256 = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    value = digest.replace("{256}", sha256).replace("{512}", sha512)
    refused(verifier(key), request.with_header("content-digest", value))


# Time window and key validity


@pytest.mark.parametrize(
    ("now", "verdict"),
    [
        (NOW - 30, "ok"),
        (NOW - 31, "future"),
        (NOW + 60, "ok"),
        (NOW + 61, "expired"),
    ],
)
def test_the_time_window_with_a_60_second_ttl(now: int, verdict: str) -> None:
    key = new_key()
    request = signed(key, ttl=60)
    if verdict == "ok":
        verify(verifier(key, now=now), request)
    else:
        assert verdict in refused(verifier(key, now=now), request)


def test_a_signature_older_than_max_age_is_refused() -> None:
    key = new_key()
    request = signed(key, ttl=300)
    verify(verifier(key, now=NOW + 300), request)
    assert "too old" in refused(verifier(key, now=NOW + 301), request)
    assert "too old" in refused(verifier(key, now=NOW + 100, max_age=60), request)


@pytest.mark.parametrize("expires", [NOW, NOW - 1, NOW + 301])
def test_expires_must_be_1_to_300_seconds_after_created(expires: int) -> None:
    key = new_key()
    bad = _swap_param("expires", str(expires))(signed(key))
    refused(verifier(key), bad)


def test_a_key_outside_its_validity_period_is_refused() -> None:
    early = new_key(not_before=NOW + 1)
    late = new_key(not_after=NOW - 1)
    assert "not valid yet" in refused(verifier(early), signed(early))
    assert "no longer valid" in refused(verifier(late), signed(late))


def test_two_keys_valid_at_once_both_verify() -> None:
    old = new_key("old", not_after=NOW + 3600)
    new = new_key("new", not_before=NOW - 3600)
    v = verifier(old, new)
    assert verify(v, signed(old)).key == old
    assert verify(v, signed(new)).key == new


# Scope


def test_check_scope_allows_what_the_key_names_and_any_when_none() -> None:
    scoped = new_key(envs=frozenset({"dev"}), operations=frozenset({"provision"}))
    check_scope(Verified(scoped, "n" * 16, NOW, NOW + 1), "dev", "provision")
    check_scope(Verified(new_key(), "n" * 16, NOW, NOW + 1), "prod", "rotate")


@pytest.mark.parametrize(("env", "operation"), [("prod", "provision"), ("dev", "x")])
def test_check_scope_refuses_outside_the_scope(env: str, operation: str) -> None:
    scoped = new_key(envs=frozenset({"dev"}), operations=frozenset({"provision"}))
    with pytest.raises(SignatureRejected):
        check_scope(Verified(scoped, "n" * 16, NOW, NOW + 1), env, operation)


# Sizes and the request target


def test_an_oversize_body_is_refused_before_anything_else() -> None:
    key = new_key()
    request = signed(key, body=bytes(65537))
    with pytest.raises(BodyTooLarge):
        verify(verifier(key), replace(request, headers=[]))
    verify(verifier(key, max_body=65537), request)


def test_an_oversize_header_is_refused() -> None:
    key = new_key()
    request = signed(key)
    value = request.header("signature-input") + ";x=" + "1" * 1024
    assert "too long" in refused(
        verifier(key), request.with_header("signature-input", value)
    )


def test_too_many_headers_are_refused() -> None:
    key = new_key()
    request = signed(key)
    headers = request.headers + [(f"x-{i}", "1") for i in range(200)]
    refused(verifier(key), replace(request, headers=headers))


@pytest.mark.parametrize(
    "change",
    [
        {"method": "post"},
        {"authority": "user@127.0.0.1:8470"},
        {"authority": ""},
        {"path": "/v1/pro vision"},
        {"path": "v1/provision"},
        {"path": "/v1/provision#x"},
        {"query": "a=1#frag"},
        {"path": "/" + "a" * 4096},
    ],
)
def test_a_malformed_request_target_is_refused(change: dict[str, Any]) -> None:
    key = new_key()
    refused(verifier(key), replace(signed(key), **change))


# Constant-time comparison


def test_digest_and_signature_are_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def spy(where: str) -> Callable[[bytes, bytes], bool]:
        def compare(a: bytes, b: bytes) -> bool:
            calls.append(where)
            return hmac.compare_digest(a, b)

        return compare

    monkeypatch.setattr(_verify, "compare_digest", spy("digest"))
    monkeypatch.setattr(_rfc9421, "compare_digest", spy("signature"))
    key = new_key()
    verify(verifier(key), signed(key))
    refused(verifier(key), _flip_signature(signed(key)))
    assert calls == ["digest", "signature", "digest", "signature"]


# Signing keys and sign_request arguments


def test_a_short_or_malformed_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        SigningKey("k1", new_secret(31))
    with pytest.raises(ConfigError, match="not base64url"):
        SigningKey("k1", Secret("not base64 at all!"))


@pytest.mark.parametrize("key_id", ["", "a b", "a" * 65, '"k"', "-k", "ключ"])
def test_an_invalid_key_id_is_a_config_error(key_id: str) -> None:
    with pytest.raises(ConfigError):
        SigningKey(key_id, new_secret())


def test_the_secret_appears_in_no_repr_reason_or_message() -> None:
    key = new_key()
    text = key.secret.reveal()
    assert text not in repr(key)
    reason = refused(verifier(key), _flip_signature(signed(key)))
    assert text not in reason
    with pytest.raises(ConfigError) as info:
        SigningKey("k1", Secret(text[:20]))
    assert text[:20] not in str(info.value)


@pytest.mark.parametrize(
    ("args", "options"),
    [
        (("post", URL), {}),
        (("POST", "/v1/provision"), {}),
        (("POST", "ftp://127.0.0.1/x"), {}),
        (("POST", URL + "#frag"), {}),
        (("POST", URL), {"ttl": 0}),
        (("POST", URL), {"ttl": 301}),
        (("POST", URL), {"nonce": "short"}),
        (("POST", URL), {"nonce": "n" * 15 + "!"}),
        (("POST", URL), {"content_type": ""}),
        (("POST", URL), {"content_type": "text/plain\r\nx: y"}),
        (("POST", "http://127.0.0.1:8470/a b"), {}),
    ],
)
def test_sign_request_refuses_bad_arguments(
    args: tuple[str, str], options: dict[str, object]
) -> None:
    with pytest.raises(SigningError):
        sign_request(args[0], args[1], BODY, new_key(), **options)  # type: ignore[arg-type]


def test_sign_request_does_not_echo_user_info() -> None:
    password = secrets.token_urlsafe(16)
    with pytest.raises(SigningError) as info:
        sign_request("POST", f"http://u:{password}@127.0.0.1/x", BODY, new_key())
    assert password not in str(info.value)


# Fuzzing: malformed structured fields are refused, never crash


SF_ALPHABET = st.sampled_from(
    list('sig=()"@:;, ?*-_.') + list("abcdefghijklmnopqrstuvwxyz0123456789+/AZ")
)
HEADER_TEXT = st.one_of(
    st.text(SF_ALPHABET, max_size=200),
    st.text(st.characters(max_codepoint=0xFF), max_size=200),
    st.text(max_size=50),
)


def _mutations(value: str) -> st.SearchStrategy[str]:
    def apply(pos: int, cut: int, insert: str) -> str:
        pos %= len(value) + 1
        return value[:pos] + insert + value[pos + cut :]

    return st.builds(
        apply, st.integers(0, 400), st.integers(0, 8), st.text(SF_ALPHABET, max_size=8)
    )


FUZZ_KEY = new_key()
FUZZ_REQUEST = signed(FUZZ_KEY)
FUZZ_VERIFIER = verifier(FUZZ_KEY)


def _only_refusal_or_success(request: Request) -> None:
    try:
        verify(FUZZ_VERIFIER, request)
    except SignatureRejected as exc:
        assert exc.reason


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(["signature", "signature-input", "content-digest"]),
    data=st.data(),
)
def test_fuzzed_signature_fields_are_refused_or_verified(
    field: str, data: st.DataObject
) -> None:
    original = FUZZ_REQUEST.header(field)
    value = data.draw(st.one_of(HEADER_TEXT, _mutations(original)))
    _only_refusal_or_success(FUZZ_REQUEST.with_header(field, value))


@settings(max_examples=200)
@given(signature=HEADER_TEXT, signature_input=HEADER_TEXT)
def test_fuzzed_pairs_of_signature_fields_are_refused(
    signature: str, signature_input: str
) -> None:
    request = FUZZ_REQUEST.with_header("signature", signature).with_header(
        "signature-input", signature_input
    )
    _only_refusal_or_success(request)


@settings(max_examples=200)
@given(
    part=st.sampled_from(["method", "authority", "path", "query"]),
    value=HEADER_TEXT,
)
def test_fuzzed_request_targets_are_refused_or_verified(part: str, value: str) -> None:
    change: dict[str, Any] = {part: value}
    _only_refusal_or_success(replace(FUZZ_REQUEST, **change))


# The worked example in docs/signing.md


def test_the_documented_worked_example_is_what_sign_request_produces() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "signing.md").read_text("utf-8")
    raw = hashlib.sha256(b"vaultgate example key").digest()
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    key = SigningKey("example-2025", Secret(text))
    headers = sign_request(
        "POST",
        "http://127.0.0.1:8470/v1/provision",
        b'{"project":"billing","env":"dev"}',
        key,
        created=1760000000,
        nonce="example-nonce-0001",
        ttl=60,
    )
    for name, value in headers.items():
        assert f"\n{name}: {value}\n" in doc
