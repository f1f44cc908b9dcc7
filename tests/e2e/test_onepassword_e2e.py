"""The whole flow with 1Password as the vault, once per backend (`op`,
`op-connect`, `op-sdk`).

The real CLI process and a real gateway process both use the same 1Password
stand-in (the `op` executable on PATH, the Connect server on 127.0.0.1, or the
SDK core stand-in server on 127.0.0.1 that the processes reach through a
test-only sitecustomize); the gateway logs in to the pg18 cluster as its
CREATEROLE-only role. Only `vaultgate.toml` and the gateway's `[vault]` table
differ from the local-vault end-to-end tests.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.gateway_process import free_port, key_fields, new_key
from tests.pg import PgServer
from vaultgate.secret import Secret
from vaultgate.signing import SigningKey

BACKENDS = ["op_cli", "op_connect", "op_sdk_processes"]
GATEWAY_DB_ITEM = "vaultgate-gateway-db"
SIGNING_ITEM = "vaultgate-signing-key"


@dataclass
class Stack:
    """A project folder, its 1Password stand-in and the gateway reading it."""

    standin: Any
    folder: Path
    gateway_url: str
    gateway_log: Path
    key: SigningKey
    admin_secret: Secret
    gateway_pid: int

    @property
    def vault_name(self) -> str:
        name: str = self.standin.vault_name
        return name

    def cli(self, *args: str, stdin: str | None = None,
            extra_env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vaultgate", *args],
                              capture_output=True, text=True, input=stdin,
                              env={**_process_env(self.standin), **(extra_env or {})},
                              cwd=self.folder, timeout=timeout)

    def item(self, title: str) -> Any:
        """The item as the backend reads it now (a fresh backend: no cache)."""
        return self.standin.open().get_item(title)

    def password(self, title: str) -> str:
        return str(self.item(title).text("password"))


def _process_env(standin: Any) -> dict[str, str]:
    """The environment of a CLI or gateway process this test starts."""
    extra = getattr(standin, "subprocess_env", None)
    return {**os.environ, **(extra() if extra is not None else {})}


def _write_gateway_config(workdir: Path, standin: Any, pg: PgServer,
                          listen: int) -> Path:
    vault = standin.settings()
    table = "".join(f'{k} = "{v}"\n' for k, v in vault.items())
    name = vault["vault"]
    config = workdir / "gateway.toml"
    config.write_text(
        f'listen_host = "127.0.0.1"\nlisten_port = {listen}\n'
        'extensions = ["citext"]\n'
        f"[vault]\n{table}"
        f'[cluster]\nhost = "{pg.host}"\nport = {pg.port}\n'
        f'database = "{pg.dbname}"\n'
        f'admin = "op://{name}/{GATEWAY_DB_ITEM}"\n'
        f'[signing]\nkeys = ["op://{name}/{SIGNING_ITEM}"]\n')
    return config


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path,
                  timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gateway exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("gateway never became healthy:\n"
                f"{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(params=BACKENDS, ids=["op", "op-connect", "op-sdk"])
def stack(request: pytest.FixtureRequest, pg18: PgServer, tmp_path: Path,
          vaultgate_home: Path) -> Iterator[Stack]:
    with running_stack(request.getfixturevalue(request.param), pg18,
                       tmp_path) as made:
        yield made


@contextmanager
def running_stack(standin: Any, pg18: PgServer, tmp_path: Path) -> Iterator[Stack]:
    """A gateway process on `standin` and a project folder that uses it."""
    assert pg18.gateway is not None and pg18.gateway.secret is not None
    backend = standin.open()
    backend.create_item(GATEWAY_DB_ITEM, {"username": pg18.gateway.user,
                                          "password": pg18.gateway.secret})
    key = new_key()
    backend.create_item(SIGNING_ITEM, key_fields(key))

    workdir = tmp_path / "gateway"
    workdir.mkdir()
    listen = free_port()
    config = _write_gateway_config(workdir, standin, pg18, listen)
    log = workdir / "gateway.log"
    url = f"http://127.0.0.1:{listen}"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "vaultgate", "gateway", "serve", "--config",
             str(config)], stdout=out, stderr=subprocess.STDOUT,
            env={**_process_env(standin), "PYTHONUNBUFFERED": "1"})
    try:
        _wait_healthy(url, process, log)
        folder = tmp_path / "app"
        folder.mkdir()
        settings = standin.settings()
        (folder / "vaultgate.toml").write_text(
            f'[env.dev]\nvault = "team"\ngateway = "{url}"\n\n'
            f'[vault.team]\nbackend = "{settings["backend"]}"\n'
            f'vault = "{settings["vault"]}"\n')
        yield Stack(standin, folder, url, log, key, pg18.gateway.secret,
                    process.pid)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _login(pg: PgServer, item: Any, candidate: str) -> psycopg.Connection[Any]:
    return psycopg.connect(host=item.text("host"), port=item.text("port"),
                           dbname=item.text("database"), user=item.text("username"),
                           password=candidate, connect_timeout=5)


def _refused(pg: PgServer, item: Any, candidate: str) -> bool:
    try:
        _login(pg, item, candidate).close()
    except psycopg.OperationalError as exc:
        assert "password authentication" in str(exc)
        return True
    return False


CONNECT_SCRIPT = (
    "import os, psycopg\n"
    "with psycopg.connect(os.environ['DATABASE_URL'], connect_timeout=5) as c:\n"
    "    print('connected as', c.execute('SELECT current_user').fetchone()[0])\n")


def test_provision_read_run_inject_rotate(stack: Stack, pg18: PgServer) -> None:
    project = f"o{secrets.token_hex(5)}"
    title = f"{project}-dev"
    vault = stack.vault_name

    # provision: the item is in 1Password, the role logs in with its password
    run = stack.cli("provision", project, "--json")
    assert run.returncode == 0, run.stderr + stack.gateway_log.read_text()
    result = json.loads(run.stdout)
    assert result["reference"] == f"op://{vault}/{title}"
    assert result["role"] == f"{project}_dev"
    item = stack.item(title)
    password = item.text("password")
    assert item.text("username") == f"{project}_dev"
    assert int(item.text("port")) == pg18.port
    assert password not in run.stdout + run.stderr
    with _login(pg18, item, password) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'kept across rotation')")
        conn.commit()
        assert conn.execute("SELECT current_schema").fetchone() == (f"{project}_dev",)
    assert _refused(pg18, item, secrets.token_urlsafe(24))
    raw = stack.standin.raw(title)
    assert raw["category"].upper() == "DATABASE"  # the SDK says "Database"

    # read
    read = stack.cli("read", f"op://{vault}/{title}/password")
    assert read.returncode == 0, read.stderr
    assert read.stdout == password + "\n"
    lower = stack.cli("read", "-n", f"op://{vault.lower()}/{title.upper()}/server")
    assert lower.returncode == 0, lower.stderr
    assert lower.stdout == item.text("host")

    # run: DATABASE_URL is resolved in the child's environment only
    ran = stack.cli("run", "--", sys.executable, "-c", CONNECT_SCRIPT,
                    extra_env={"DATABASE_URL": f"op://{vault}/{title}/url"})
    assert ran.returncode == 0, ran.stderr
    assert f"connected as {project}_dev" in ran.stdout
    assert password not in ran.stdout + ran.stderr

    # inject
    template = (f"user={{{{ op://{vault}/{title}/username }}}}\n"
                f"password={{{{ op://{vault}/{title}/password }}}}\n")
    injected = stack.cli("inject", stdin=template)
    assert injected.returncode == 0, injected.stderr
    assert injected.stdout == f"user={project}_dev\npassword={password}\n"

    # rotate: a new password works, the old one is refused, the rows remain
    rotated = stack.cli("rotate", project, "--json")
    assert rotated.returncode == 0, rotated.stderr + stack.gateway_log.read_text()
    after = stack.item(title)
    new_password = after.text("password")
    assert new_password != password
    assert not after.has("password_pending")
    assert new_password not in rotated.stdout + rotated.stderr
    assert _refused(pg18, after, password)
    with _login(pg18, after, new_password) as conn:
        assert conn.execute("SELECT body FROM notes").fetchall() == [
            ("kept across rotation",)]
    read_again = stack.cli("read", f"op://{vault}/{title}/password")
    assert read_again.stdout == new_password + "\n"
    ran_again = stack.cli("run", "--", sys.executable, "-c", CONNECT_SCRIPT,
                          extra_env={"DATABASE_URL": f"op://{vault}/{title}/url"})
    assert ran_again.returncode == 0, ran_again.stderr

    # no secret ever travelled in an argv (op), a request line (Connect) or an
    # SDK invocation other than the item writes that must carry it (op-sdk)
    for value in (password, new_password, stack.key.secret.reveal(),
                  stack.admin_secret.reveal()):
        assert not stack.standin.leaked(value)
    assert stack.standin.requests() > 0
    server = getattr(stack.standin, "server", None)
    if server is not None:  # op-sdk: the CLI and the gateway processes used it
        pids = server.pids()
        assert stack.gateway_pid in pids
        assert len(pids - {stack.gateway_pid}) >= 8  # one per CLI command
        assert "SecretsResolveAll" in server.names()
        # the record holds whole bodies: the item writes do carry the password
        assert any(new_password in r.body for r in server.requests
                   if r.name == "ItemsPut")
    gateway_log = stack.gateway_log.read_text(errors="replace")
    assert password not in gateway_log and new_password not in gateway_log


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes"


def _start_notes(stack: Stack, folder: Path, port: int) -> subprocess.Popen[bytes]:
    from tests.e2e.test_example import start_notes

    return start_notes(folder, port, _process_env(stack.standin))


def test_the_notes_example_moves_to_1password_by_editing_vaultgate_toml_alone(
        stack: Stack, pg18: PgServer, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "notes"
    shutil.copytree(EXAMPLE, folder)
    env_file = (folder / ".env").read_text()
    settings = stack.standin.settings()
    profile = "".join(f'{k} = "{v}"\n' for k, v in settings.items())
    # The only edit: the dev environment's vault profile and gateway.
    (folder / "vaultgate.toml").write_text(
        f'project = "notes"\n\n[env.dev]\nvault = "local"\n'
        f'gateway = "{stack.gateway_url}"\n\n[vault.local]\n{profile}')

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vaultgate", *args],
                              capture_output=True, text=True, cwd=folder,
                              env=_process_env(stack.standin), timeout=120)

    assert cli("provision").returncode == 0
    port = free_port()
    body = f"note {secrets.token_hex(4)}"
    app = _start_notes(stack, folder, port)
    try:
        assert httpx.post(f"http://127.0.0.1:{port}/notes",
                          content=body.encode()).status_code == 201
    finally:
        app.terminate()
        app.wait(10)
    old = stack.password("notes-dev")
    rotated = cli("rotate")
    assert rotated.returncode == 0, rotated.stderr
    app = _start_notes(stack, folder, port)
    try:
        listed = httpx.get(f"http://127.0.0.1:{port}/notes").json()
    finally:
        app.terminate()
        app.wait(10)
    assert listed["role"] == "notes_dev"
    assert body in [n["body"] for n in listed["notes"]]
    assert _refused(pg18, stack.item("notes-dev"), old)
    assert (folder / ".env").read_text() == env_file


def _wait_for(predicate: Any, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"rotate ended (exit {proc.returncode}) before {what}")
        time.sleep(0.01)
    pytest.fail(f"never saw {what}")


def test_rotate_killed_between_each_pair_of_steps_then_rerun(
        op_cli: Any, pg18: PgServer, tmp_path: Path, vaultgate_home: Path) -> None:
    """A slow `op` (0.25 s a call; the real one takes more) opens a window after
    each step; rotate is SIGKILLed in it, the vault still holds a password that
    logs in, and a rerun finishes with the old password refused."""
    op_cli.delay(0.25)
    with running_stack(op_cli, pg18, tmp_path) as stack:
        project = f"k{secrets.token_hex(5)}"
        fast = {"OP_STANDIN_DELAY": "0"}
        assert stack.cli("provision", project, extra_env=fast).returncode == 0
        for after in ("create", "set", "test"):
            _kill_rotation_after(stack, op_cli, pg18, project, after)


def _kill_rotation_after(stack: Stack, op_cli: Any, pg18: PgServer, project: str,
                         after: str) -> None:
    import signal
    import threading

    title = f"{project}-dev"
    old = stack.password(title)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaultgate", "rotate", project],
        cwd=stack.folder, env=_process_env(op_cli), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    progress: list[str] = []
    reader = threading.Thread(target=lambda: progress.extend(proc.stderr or []),
                              daemon=True)
    reader.start()
    # rotate reports each finished step ("1/4 ...") before it starts the next.
    step = {"create": "1/4", "set": "2/4", "test": "3/4"}[after]
    _wait_for(lambda: any(step in line for line in list(progress)), proc,
              f"step '{after}' finish")
    # The whole command dies, an `op` call it has in flight included.
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    item = stack.item(title)
    if not item.has("password_pending"):
        # On a loaded machine the kill can land after step 4's write: then the
        # rotation is simply done.
        assert not _refused(pg18, item, item.text("password")), after
        assert _refused(pg18, item, old), after
        return
    pending = item.text("password_pending")
    if after == "create":
        # The request of step 2 may already be on its way when the command
        # dies; either way one of the two passwords in the vault logs in.
        assert not _refused(pg18, item, old) or not _refused(pg18, item, pending)
    else:
        assert not _refused(pg18, item, pending), after  # the role has the new one
        assert _refused(pg18, item, old), after

    rerun = stack.cli("rotate", project, extra_env={"OP_STANDIN_DELAY": "0"})
    assert rerun.returncode == 0, rerun.stderr
    final = stack.item(title)
    assert final.text("password") == pending
    assert not final.has("password_pending")
    assert not _refused(pg18, final, pending)
    assert _refused(pg18, final, old)
