"""Start the real gateway process for tests, against a cluster they prepared."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from vaultgate.secret import Secret, generate_password
from vaultgate.signing import SigningKey
from vaultgate.vaults.local import LocalVault


@dataclass
class RunningGateway:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    config_path: Path
    vault: LocalVault
    key: SigningKey

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_key(**scope: object) -> SigningKey:
    return SigningKey(key_id=f"test-{secrets.token_hex(4)}",
                      secret=generate_password(32), **scope)  # type: ignore[arg-type]


def key_fields(key: SigningKey) -> dict[str, str | Secret]:
    fields: dict[str, str | Secret] = {"key_id": key.key_id, "key": key.secret}
    if key.envs is not None:
        fields["envs"] = ",".join(sorted(key.envs))
    if key.operations is not None:
        fields["operations"] = ",".join(sorted(key.operations))
    if key.not_after is not None:
        fields["not_after"] = str(key.not_after)
    return fields


def start_gateway(workdir: Path, *, host: str, port: int, database: str,
                  admin_user: str, admin_secret: Secret,
                  extensions: Iterable[str] = ("citext", "hstore", "pg_trgm"),
                  key: SigningKey | None = None) -> RunningGateway:
    """Write a vault and settings under workdir and start `vaultgate gateway serve`."""
    workdir.mkdir(parents=True, exist_ok=True)
    vault = LocalVault(workdir / "vault.enc", workdir / "vault.key")
    vault.create_item("vaultgate-gateway-db",
                      {"username": admin_user, "password": admin_secret})
    key = key or new_key()
    vault.create_item("vaultgate-signing-key", key_fields(key))
    listen = free_port()
    config = workdir / "gateway.toml"
    ext = ", ".join(f'"{e}"' for e in extensions)
    config.write_text(
        f'listen_host = "127.0.0.1"\nlisten_port = {listen}\nextensions = [{ext}]\n'
        f'[vault]\nbackend = "local"\npath = "{vault.path}"\n'
        f'key_file = "{vault.key_path}"\nname = "local"\n'
        f'[cluster]\nhost = "{host}"\nport = {port}\ndatabase = "{database}"\n'
        'admin = "op://local/vaultgate-gateway-db"\n'
        '[signing]\nkeys = ["op://local/vaultgate-signing-key"]\n')
    return spawn_gateway(config, listen, workdir / "gateway.log", vault, key)


def spawn_gateway(config: Path, port: int, log_path: Path, vault: LocalVault,
                  key: SigningKey) -> RunningGateway:
    """Run `vaultgate gateway serve --config` and wait until it is healthy."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vaultgate", "gateway", "serve", "--config",
             str(config)], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    gateway = RunningGateway(f"http://127.0.0.1:{port}", process, log_path,
                             config, vault, key)
    _wait_healthy(gateway)
    return gateway


def _wait_healthy(gateway: RunningGateway, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"gateway exited:\n{gateway.log_text()[-3000:]}")
        try:
            if httpx.get(gateway.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"gateway never became healthy:\n{gateway.log_text()[-3000:]}")
