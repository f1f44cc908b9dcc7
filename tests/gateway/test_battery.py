"""The attack battery: forged, tampered, replayed, stale, malformed and oversized
requests against the real gateway process, each refused with nothing changed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import httpx
import pytest

from tests.gateway.conftest import pg15_admin
from tests.gateway_process import RunningGateway, new_key
from vaultgate.names import Target
from vaultgate.secret import generate_password
from vaultgate.signing import COMPONENTS, SigningKey, content_digest, sign_request
from vaultgate.signing._keys import hmac_key

GENERIC_401 = {"error": "unauthorized"}


@dataclass(frozen=True)
class Forged:
    """One request to send, and what the signature covers (may differ)."""

    method: str
    authority: str
    path: str
    query: str
    body: bytes
    key: SigningKey
    components: tuple[str, ...] = COMPONENTS
    params: tuple[tuple[str, object], ...] = ()
    label: str = "sig"
    content_type: str = "application/json"
    extra: tuple[tuple[str, str], ...] = ()
    drop: frozenset[str] = field(default_factory=frozenset)


def default_params(key: SigningKey, created: int | None = None,
                   ttl: int = 60) -> tuple[tuple[str, object], ...]:
    created = int(time.time()) if created is None else created
    return (("created", created), ("keyid", key.key_id), ("alg", "hmac-sha256"),
            ("expires", created + ttl), ("nonce", secrets.token_urlsafe(24)))


def serialize_params(params: tuple[tuple[str, object], ...]) -> str:
    parts = [f"{k}={v}" if isinstance(v, int) else f'{k}="{v}"' for k, v in params]
    return "".join(f";{p}" for p in parts)


def sign_input(f: Forged, method: str | None = None, authority: str | None = None,
               path: str | None = None, query: str | None = None
               ) -> tuple[str, str]:
    """Signature-Input member and a valid HMAC over the base it describes."""
    values = {
        "@method": method or f.method, "@authority": authority or f.authority,
        "@path": path or f.path, "@query": "?" + (f.query if query is None else query),
        "content-type": f.content_type, "content-digest": content_digest(f.body),
        "content-length": str(len(f.body)),
    }
    member = "(" + " ".join(f'"{c}"' for c in f.components) + ")" + \
        serialize_params(f.params)
    lines = [f'"{c}": {values[c]}' for c in f.components]
    lines.append(f'"@signature-params": {member}')
    mac = hmac.new(hmac_key(f.key), "\n".join(lines).encode(), hashlib.sha256)
    return member, base64.b64encode(mac.digest()).decode()


def headers_of(f: Forged, **signed_as: str) -> list[tuple[str, str]]:
    member, signature = sign_input(f, **signed_as)
    headers = [
        ("host", f.authority), ("content-type", f.content_type),
        ("content-digest", content_digest(f.body)),
        ("signature-input", f"{f.label}={member}"),
        ("signature", f"{f.label}=:{signature}:"),
    ]
    kept = [(k, v) for k, v in headers if k not in f.drop]
    return kept + list(f.extra)


def send(gw: RunningGateway, f: Forged, headers: list[tuple[str, str]],
         body: bytes | Iterator[bytes] | None = None) -> httpx.Response:
    url = f"{gw.url}{f.path}" + (f"?{f.query}" if f.query else "")
    with httpx.Client(timeout=30) as client:
        request = client.build_request(f.method, url, content=body
                                       if body is not None else f.body)
        request.headers = httpx.Headers(
            [(k, v) for k, v in request.headers.multi_items()
             if k.lower() not in {h for h, _ in headers} | {"host"}] + headers)
        return client.send(request)


# -- the table ---------------------------------------------------------------------

Case = Callable[[RunningGateway, Forged], httpx.Response]


def _plain(f: Forged) -> Case:
    return lambda gw, _: send(gw, f, headers_of(f))


def with_headers(change: Callable[[list[tuple[str, str]]], list[tuple[str, str]]]
                 ) -> Case:
    return lambda gw, f: send(gw, f, change(headers_of(f)))


def setting(name: str, value: str) -> Callable[[list[tuple[str, str]]],
                                               list[tuple[str, str]]]:
    return lambda hs: [(k, value if k == name else v) for k, v in hs]


def forged(**change: object) -> Case:
    def case(gw: RunningGateway, f: Forged) -> httpx.Response:
        fixed = {k: v for k, v in change.items() if not callable(v)}
        g = replace(f, **fixed)  # type: ignore[arg-type]
        if callable(change.get("params")):
            g = replace(g, params=change["params"](f))  # type: ignore[operator]
        elif "key" in change:
            g = replace(g, params=default_params(g.key))
        return send(gw, g, headers_of(g))
    return case


def params(**over: object) -> Callable[[Forged], tuple[tuple[str, object], ...]]:
    def build(f: Forged) -> tuple[tuple[str, object], ...]:
        base = dict(default_params(f.key))
        base.update({k: v for k, v in over.items() if v is not None})
        return tuple((k, v) for k, v in base.items() if over.get(k, "") is not None)
    return build


def signed_as(**target: str) -> Case:
    return lambda gw, f: send(gw, f, headers_of(f, **target))


def body_sent(transform: Callable[[bytes], bytes]) -> Case:
    return lambda gw, f: send(gw, f, headers_of(f), transform(f.body))


def reserialised(body: bytes) -> bytes:
    return json.dumps(json.loads(body), indent=2).encode()


def truncated_signature(hs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    def cut(v: str) -> str:
        raw = base64.b64decode(v.split(":")[1])
        return f"sig=:{base64.b64encode(raw[:16]).decode()}:"
    return [(k, cut(v) if k == "signature" else v) for k, v in hs]


def two_members(name: str) -> Callable[[list[tuple[str, str]]],
                                       list[tuple[str, str]]]:
    def change(hs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        value = dict(hs)[name]
        other = value.replace("sig=", "sig2=", 1)
        return [(k, f"{v}, {other}" if k == name else v) for k, v in hs]
    return change


def duplicate_header(name: str) -> Callable[[list[tuple[str, str]]],
                                            list[tuple[str, str]]]:
    return lambda hs: hs + [(name, dict(hs)[name])]


def dropped(name: str) -> Case:
    return forged(drop=frozenset({name}))


def oversized(chunked: bool) -> Case:
    def case(gw: RunningGateway, f: Forged) -> httpx.Response:
        big = f.body + b" " * (64 * 1024)
        g = replace(f, body=big)
        if chunked:
            return send(gw, g, headers_of(g), iter([big[:4096], big[4096:]]))
        return send(gw, g, headers_of(g))
    return case


def dup_json_keys(gw: RunningGateway, f: Forged) -> httpx.Response:
    doctored = f.body[:-1] + b',"env":"prod"}'
    g = replace(f, body=doctored, params=default_params(f.key))
    return send(gw, g, headers_of(g))


CASES: dict[str, tuple[Case, int]] = {
    "missing Signature": (dropped("signature"), 401),
    "missing Signature-Input": (dropped("signature-input"), 401),
    "missing Content-Digest": (dropped("content-digest"), 401),
    "missing Content-Type": (dropped("content-type"), 401),
    "empty Signature": (with_headers(setting("signature", "")), 401),
    "empty Signature-Input": (with_headers(setting("signature-input", "")), 401),
    "empty byte sequence": (with_headers(setting("signature", "sig=::")), 401),
    "prefix of the signature": (with_headers(truncated_signature), 401),
    "bad base64 signature": (with_headers(setting("signature", "sig=:!!!!:")), 401),
    "wrong key, right key id": (
        lambda gw, f: forged(key=SigningKey(f.key.key_id, generate_password(32)))(
            gw, f), 401),
    "unknown key id": (lambda gw, f: forged(key=new_key())(gw, f), 401),
    "caller-chosen alg": (forged(params=params(alg="hmac-sha512")), 401),
    "alg left out": (forged(params=params(alg=None)), 401),
    "re-serialised JSON body": (body_sent(reserialised), 401),
    "tampered body": (body_sent(lambda b: b.replace(b'"dev"', b'"prd"')), 401),
    "unsigned query string added": (lambda gw, f: send(
        gw, replace(f, query="admin=1"), headers_of(f)), 401),
    "method changed": (signed_as(method="PUT"), 401),
    "path changed": (signed_as(path="/v1/target"), 401),
    "authority changed": (signed_as(authority="localhost:1"), 401),
    "created not covered": (forged(params=params(created=None)), 401),
    "nonce not covered": (forged(params=params(nonce=None)), 401),
    "stale by 301 s": (lambda gw, f: forged(params=lambda _: default_params(
        f.key, int(time.time()) - 301, 300))(gw, f), 401),
    "future by 31 s": (lambda gw, f: forged(params=lambda _: default_params(
        f.key, int(time.time()) + 31))(gw, f), 401),
    "expired": (lambda gw, f: forged(params=lambda _: default_params(
        f.key, int(time.time()) - 100, 90))(gw, f), 401),
    "lifetime over 300 s": (lambda gw, f: forged(params=lambda _: default_params(
        f.key, int(time.time()), 301))(gw, f), 401),
    "duplicate label": (with_headers(lambda hs: [
        (k, f"{v}, {v}" if k == "signature-input" else v) for k, v in hs]), 401),
    "two signatures": (with_headers(lambda hs: two_members("signature")(
        two_members("signature-input")(hs))), 401),
    "Signature header twice": (with_headers(duplicate_header("signature")), 401),
    "other label": (forged(label="other"), 401),
    "unknown parameter": (forged(params=lambda f: default_params(f.key) + (
        ("tag", "vaultgate"),)), 401),
    "too short nonce": (forged(params=params(nonce="abc")), 401),
    "content-digest not covered": (forged(components=COMPONENTS[:-1]), 401),
    "extra component": (forged(components=COMPONENTS + ("content-length",)), 401),
    "components reordered": (forged(components=tuple(reversed(COMPONENTS))), 401),
    "non-canonical spacing": (with_headers(lambda hs: [
        (k, v.replace("(", "( ", 1) if k == "signature-input" else v)
        for k, v in hs]), 401),
    "malformed structured field": (with_headers(setting(
        "signature-input", 'sig=((("@method";;=')), 401),
    "Content-Digest sha-512": (with_headers(setting(
        "content-digest", "sha-512=:" + base64.b64encode(bytes(64)).decode()
        + ":")), 401),
    "huge Signature header": (with_headers(setting(
        "signature", "sig=:" + "A" * 4000 + ":")), 401),
    "body over 64 KiB, Content-Length": (oversized(chunked=False), 413),
    "body over 64 KiB, chunked": (oversized(chunked=True), 413),
    # Signed by the key holder: refused after the signature, with a reason.
    "duplicate JSON keys (signed)": (dup_json_keys, 401),
}


# -- helpers ---------------------------------------------------------------------

def new_target(gw: RunningGateway, env: str = "dev") -> Target:
    target = Target.of(f"b{secrets.token_hex(5)}", env)
    gw.vault.create_item(target.item_title, {
        "host": "127.0.0.1", "port": "5432", "database": "x",
        "username": target.login_role, "password": generate_password()})
    return target


def base_request(gw: RunningGateway, target: Target, path: str = "/v1/provision",
                 key: SigningKey | None = None) -> Forged:
    key = key or gw.key
    body = json.dumps({"project": target.project, "env": target.env,
                       "extensions": [],
                       "reference": f"op://local/{target.item_title}"}).encode()
    return Forged("POST", gw.url.removeprefix("http://"), path, "", body, key,
                  params=default_params(key))


def roles_like(prefix: str) -> set[str]:
    with pg15_admin() as conn:
        rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                            (prefix + "%",)).fetchall()
    return {r[0] for r in rows}


def schemas_like(gw: RunningGateway, prefix: str) -> set[str]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres",
                         dbname=gw.database) as conn:  # type: ignore[attr-defined]
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                            (prefix + "%",)).fetchall()
    return {r[0] for r in rows}


def vault_digest(gw: RunningGateway) -> str:
    return hashlib.sha256(gw.vault.path.read_bytes()).hexdigest()


def assert_refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json() == GENERIC_401


# -- tests ----------------------------------------------------------------------

def test_forger_reproduces_a_valid_signature(pg15_gateway: RunningGateway) -> None:
    """The battery's own signer matches sign_request, so its forgeries are exact."""
    target = new_target(pg15_gateway)
    f = base_request(pg15_gateway, target)
    created = int(time.time())
    f = replace(f, params=default_params(f.key, created))
    nonce = str(dict(f.params)["nonce"])
    ours = dict(headers_of(f))
    theirs = sign_request("POST", pg15_gateway.url + f.path, f.body, f.key,
                          created=created, nonce=nonce)
    assert ours["signature"] == theirs["Signature"]
    assert send(pg15_gateway, f, headers_of(f)).status_code == 200


@pytest.mark.parametrize("name", list(CASES))
def test_attack_is_refused_and_changes_nothing(pg15_gateway: RunningGateway,
                                               name: str) -> None:
    case, status = CASES[name]
    target = new_target(pg15_gateway)
    before = vault_digest(pg15_gateway)
    log_size = len(pg15_gateway.log_text())
    response = case(pg15_gateway, base_request(pg15_gateway, target))
    assert_refused(response, status)
    if status == 401:
        # The caller learns nothing; the log says precisely why.
        reasons = [json.loads(line)["msg"] for line in
                   pg15_gateway.log_text()[log_size:].splitlines()
                   if "refused" in line]
        assert reasons and all(len(r.split(": ", 1)[-1]) > 8 for r in reasons)
    assert roles_like(target.project) == set()
    assert schemas_like(pg15_gateway, target.project) == set()
    assert vault_digest(pg15_gateway) == before


def test_enormous_header_is_refused_without_5xx(pg15_gateway: RunningGateway) -> None:
    """The HTTP server drops a 200 KB header before the app: no 2xx, no 5xx."""
    target = new_target(pg15_gateway)
    f = base_request(pg15_gateway, target)
    try:
        status = send(pg15_gateway, f, headers_of(f) + [("x-pad", "A" * 200_000)]
                      ).status_code
    except (httpx.ReadError, httpx.RemoteProtocolError):
        status = 0  # connection closed without a response
    assert status in (0, 400, 401, 413, 431)
    assert roles_like(target.project) == set()


def test_nonce_replay_is_refused(pg15_gateway: RunningGateway) -> None:
    target = new_target(pg15_gateway)
    f = base_request(pg15_gateway, target)
    headers = headers_of(f)
    assert send(pg15_gateway, f, headers).status_code == 200
    before = vault_digest(pg15_gateway)
    assert_refused(send(pg15_gateway, f, headers), 401)
    assert vault_digest(pg15_gateway) == before


def test_same_request_concurrently_succeeds_at_most_once(
        pg15_gateway: RunningGateway) -> None:
    target = new_target(pg15_gateway)
    f = base_request(pg15_gateway, target)
    headers = headers_of(f)
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: send(pg15_gateway, f, headers).status_code,
                                 range(6)))
    assert statuses.count(200) <= 1
    assert set(statuses) <= {200, 401}


SCOPED: dict[str, tuple[str, str]] = {
    "env outside the key's scope": ("/v1/target", "dev"),
    "operation outside the key's scope": ("/v1/provision", "staging"),
}


@pytest.mark.parametrize("name", list(SCOPED))
def test_key_outside_its_scope_is_refused(scoped_gateway: RunningGateway,
                                          name: str) -> None:
    path, env = SCOPED[name]
    target = new_target(scoped_gateway, env)
    f = base_request(scoped_gateway, target, path)
    before = vault_digest(scoped_gateway)
    assert_refused(send(scoped_gateway, f, headers_of(f)), 401)
    assert roles_like(target.project) == set()
    assert vault_digest(scoped_gateway) == before


def test_key_inside_its_scope_is_accepted(scoped_gateway: RunningGateway) -> None:
    f = base_request(scoped_gateway, Target.of("scopeok", "staging"), "/v1/target")
    assert send(scoped_gateway, f, headers_of(f)).status_code == 200


def test_key_past_its_not_after_is_refused(scoped_gateway: RunningGateway) -> None:
    expired: SigningKey = scoped_gateway.expired_key  # type: ignore[attr-defined]
    target = new_target(scoped_gateway, "staging")
    f = base_request(scoped_gateway, target, "/v1/target", key=expired)
    assert_refused(send(scoped_gateway, f, headers_of(f)), 401)
    assert f"key {expired.key_id} is no longer valid" in scoped_gateway.log_text()


@pytest.mark.parametrize("body", [b"[1, 2]", b"\xff\xfe", b"not json", b"",
                                  b'{"project": "a", "project": "b"}'])
def test_a_signed_body_that_is_not_one_json_object_gets_the_generic_401(
        pg15_gateway: RunningGateway, body: bytes) -> None:
    url = pg15_gateway.url + "/v1/provision"
    response = httpx.post(url, content=body,
                          headers=sign_request("POST", url, body, pg15_gateway.key))
    assert_refused(response, 401)
