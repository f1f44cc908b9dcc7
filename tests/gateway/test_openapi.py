"""The gateway's OpenAPI description matches the routes it serves."""

from __future__ import annotations

import httpx

from tests.gateway_process import RunningGateway
from vaultgate.gateway.app import create_app
from vaultgate.gateway.settings import parse


def _app_routes() -> set[tuple[str, str]]:
    settings = parse({
        "vault": {"backend": "local", "path": "/nonexistent/v.enc"},
        "cluster": {"host": "127.0.0.1", "database": "x",
                    "admin": "op://local/vaultgate-gateway-db"},
        "signing": {"keys": ["op://local/vaultgate-signing-key"]},
    })
    app = create_app(settings)
    return {(route.path, method.lower()) for route in app.routes
            for method in getattr(route, "methods", set()) if method != "HEAD"}


def test_served_description_lists_exactly_the_routes(
        pg15_gateway: RunningGateway) -> None:
    doc = httpx.get(pg15_gateway.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    described = {(path, method) for path, item in doc["paths"].items()
                 for method in item}
    assert described == _app_routes() - {("/openapi.json", "get")}


def test_every_signed_route_documents_401_and_its_body(
        pg15_gateway: RunningGateway) -> None:
    doc = httpx.get(pg15_gateway.url + "/openapi.json").json()
    for path, item in doc["paths"].items():
        if "post" not in item:
            continue
        post = item["post"]
        assert "401" in post["responses"] and "413" in post["responses"], path
        assert post["security"] == [{"httpMessageSignature": []}], path
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        assert schema["type"] == "object", path
