"""The notes example, as its README tells it: provision, run, use, rotate,
restart; the old password is refused and the rows are still there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.conftest import E2E
from tests.gateway_process import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes"


def start_app(e2e: E2E, folder: Path, port: int) -> subprocess.Popen[bytes]:
    return start_notes(folder, port, e2e.env())


def start_notes(folder: Path, port: int,
                env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The notes example under `vaultgate run`, once it answers on `port`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaultgate", "run", "--env-file", ".env", "--",
         sys.executable, "app.py", "--port", str(port)],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"the example app exited: {out}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/notes", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("the example app never answered")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(10)


def test_the_example_story(e2e: E2E, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    shutil.copytree(EXAMPLE, folder)
    committed = (folder / ".env").read_text() + (folder / "vaultgate.toml").read_text()
    assert "op://local/notes-dev/url" in committed

    assert e2e.cli("provision", cwd=folder).returncode == 0
    port = free_port()
    app = start_app(e2e, folder, port)
    try:
        made = httpx.post(f"http://127.0.0.1:{port}/notes", content=b"buy milk")
        listed = httpx.get(f"http://127.0.0.1:{port}/notes").json()
    finally:
        stop(app)
    assert made.status_code == 201
    assert listed["role"] == "notes_dev" and listed["schema"] == "notes_dev"
    old = e2e.vault().get_item("notes-dev").text("password")

    rotated = e2e.cli("rotate", cwd=folder)
    assert rotated.returncode == 0, rotated.stderr
    app = start_app(e2e, folder, port)
    try:
        again = httpx.get(f"http://127.0.0.1:{port}/notes").json()
        httpx.post(f"http://127.0.0.1:{port}/notes", content=b"after rotation")
    finally:
        stop(app)
    assert [n["body"] for n in again["notes"]] == ["buy milk"]
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        e2e.login("notes-dev", password=old)
    assert old not in (folder / ".env").read_text()
