"""The gateway's structured log lines."""

from __future__ import annotations

import json
import logging

from vaultgate.gateway.logs import JsonFormatter


def test_a_record_becomes_one_json_object_in_utc() -> None:
    record = logging.LogRecord("vaultgate.gateway", logging.INFO, __file__, 1,
                               "provisioned %s/%s", ("billing", "dev"), None)
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["msg"] == "provisioned billing/dev"
    assert data["level"] == "INFO" and data["logger"] == "vaultgate.gateway"
    assert data["ts"].endswith("Z") and "\n" not in line


def test_every_line_of_a_running_gateway_is_json(tmp_path) -> None:  # type: ignore
    import secrets

    from tests.gateway.conftest import _drop, _gateway_database
    from tests.gateway_process import start_gateway

    role, database, password = _gateway_database(secrets.token_hex(4))
    gateway = start_gateway(tmp_path / "gw", host="127.0.0.1", port=5432,
                            database=database, admin_user=role,
                            admin_secret=password)
    try:
        import httpx

        httpx.post(gateway.url + "/v1/provision", content=b"{}")
    finally:
        gateway.stop()
        _drop(database, role)
    lines = [line for line in gateway.log_text().splitlines() if line.strip()]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    assert any("refused" in json.loads(line)["msg"] for line in lines)
