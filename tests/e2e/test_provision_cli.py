"""`vaultgate provision` end to end: the real CLI process, the real gateway
process, the real vault file and the embedded PostgreSQL 18."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from tests.e2e.conftest import E2E


def project() -> str:
    return f"p{secrets.token_hex(5)}"


def test_provision_then_log_in_create_a_table_and_use_an_extension(e2e: E2E) -> None:
    name = project()
    run = e2e.cli("provision", name, "-x", "citext", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["reference"] == f"op://local/{name}-dev"
    assert result["schema"] == result["role"] == f"{name}_dev"
    assert any("CREATE SCHEMA" in step for step in result["steps"])
    assert result["elapsed_ms"] > 0
    with e2e.login(f"{name}-dev") as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, tag citext)")
        conn.execute("INSERT INTO notes VALUES (1, 'Hello')")
        row = conn.execute("SELECT count(*) FROM notes WHERE tag = 'HELLO'"
                           ).fetchone()
        schema = conn.execute(
            "SELECT schemaname, tableowner FROM pg_tables "
            "WHERE tablename = 'notes' AND schemaname = current_schema").fetchone()
    assert row == (1,)
    assert schema == (f"{name}_dev", f"{name}_dev_owner")
    password = e2e.vault().get_item(f"{name}-dev").text("password")
    assert password not in run.stdout + run.stderr


def test_wrong_password_is_refused_over_tcp(e2e: E2E) -> None:
    name = project()
    assert e2e.cli("provision", name).returncode == 0
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        e2e.login(f"{name}-dev", password=secrets.token_urlsafe(32))


def test_text_output_names_the_reference_not_the_password(e2e: E2E) -> None:
    name = project()
    run = e2e.cli("provision", name)
    assert run.returncode == 0, run.stderr
    assert f"op://local/{name}-dev" in run.stdout
    password = e2e.vault().get_item(f"{name}-dev").text("password")
    assert password not in run.stdout + run.stderr


def test_rerun_converges_and_keeps_the_password(e2e: E2E) -> None:
    name = project()
    assert e2e.cli("provision", name).returncode == 0
    before = e2e.vault().get_item(f"{name}-dev").text("password")
    again = e2e.cli("provision", name, "--json")
    assert again.returncode == 0, again.stderr
    assert e2e.vault().get_item(f"{name}-dev").text("password") == before
    assert e2e.roles(name) == {f"{name}_dev", f"{name}_dev_owner"}
    with e2e.login(f"{name}-dev") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def _provision_processes(e2e: E2E, names: list[str]) -> list[subprocess.Popen[str]]:
    return [subprocess.Popen([sys.executable, "-m", "vaultgate", "provision", n],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=e2e.env(), cwd=e2e.home)
            for n in names]


def test_two_concurrent_runs_of_one_project_end_in_one_working_credential(
        e2e: E2E) -> None:
    name = project()
    procs = _provision_processes(e2e, [name, name])
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert e2e.roles(name) == {f"{name}_dev", f"{name}_dev_owner"}
    assert e2e.vault().titles().count(f"{name}-dev") == 1
    with e2e.login(f"{name}-dev") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_eight_concurrent_projects_all_succeed(e2e: E2E) -> None:
    names = [project() for _ in range(8)]
    procs = _provision_processes(e2e, names)
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    for name in names:
        with e2e.login(f"{name}-dev") as conn:
            assert conn.execute("SELECT current_user").fetchone() == (
                f"{name}_dev_owner",)


def test_password_appears_in_no_log_and_no_process_argv(e2e: E2E) -> None:
    name = project()
    seen: list[bytes] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    seen.append(cmdline.read_bytes())
                except OSError:
                    pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run = e2e.cli("provision", name)
        rotate_free = e2e.cli("provision", name)
    finally:
        done.set()
        watcher.join()
    assert run.returncode == 0 and rotate_free.returncode == 0
    password = e2e.vault().get_item(f"{name}-dev").text("password")
    assert seen, "no process command line was read"
    assert not any(password.encode() in c for c in seen)
    server_log = e2e.stack.cluster().log_path.read_text(errors="replace")
    assert f'ALTER ROLE "{name}_dev"' in server_log  # log_statement=all is on
    assert password not in server_log
    assert password not in e2e.stack.gateway_log.read_text(errors="replace")
    assert password not in run.stdout + run.stderr


def test_the_request_body_never_holds_the_password(e2e: E2E) -> None:
    import httpx

    from vaultgate import config
    from vaultgate.names import Target
    from vaultgate.provision import flow

    bodies: list[bytes] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            bodies.append(request.read())
            return super().handle_request(request)

    name = project()
    env = config.Manifest(None).environment("dev")
    session = flow.open_session(env, lambda message: None)
    session.client._http = httpx.Client(transport=Recording())
    flow.provision(session, Target.of(name, "dev"), [], lambda message: None)
    password = e2e.vault().get_item(f"{name}-dev").text("password")
    assert len(bodies) == 2  # target lookup, then the provisioning request
    assert b'"reference":"op://local/' in bodies[1]
    assert not any(password.encode() in body for body in bodies)


# -- bad input: a clear error and no partial state ---------------------------------

@pytest.mark.parametrize("bad", ["Billing", "1abc", "a-b", "x" * 31, "pg_x",
                                 "a;drop", "public"])
def test_invalid_project_names_exit_2_and_touch_nothing(e2e: E2E, bad: str) -> None:
    before = e2e.vault().titles()
    run = e2e.cli("provision", bad)
    assert run.returncode == 2
    assert "invalid project name" in run.stderr
    assert "Traceback" not in run.stderr
    assert e2e.vault().titles() == before


def test_invalid_env_name_exits_2(e2e: E2E) -> None:
    run = e2e.cli("provision", project(), "--env", "Prod!")
    assert run.returncode == 2
    assert "invalid environment name" in run.stderr


def test_unknown_extension_is_refused_and_leaves_no_item_or_role(e2e: E2E) -> None:
    name = project()
    run = e2e.cli("provision", name, "-x", "no_such_extension")
    assert run.returncode == 1
    assert "no_such_extension" in run.stderr and "allowlist" in run.stderr
    assert f"{name}-dev" not in e2e.vault().titles()
    assert e2e.roles(name) == set()


def _manifest(folder: Path, gateway: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "vaultgate.toml").write_text(
        f'[env.dev]\nvault = "local"\ngateway = "{gateway}"\n')
    return folder


def test_gateway_down_is_a_clear_error_and_leaves_no_item(
        e2e: E2E, tmp_path: Path) -> None:
    from tests.gateway_process import free_port

    folder = _manifest(tmp_path / "app", f"http://127.0.0.1:{free_port()}")
    name = project()
    run = e2e.cli("provision", name, cwd=folder)
    assert run.returncode == 1
    assert "not reachable" in run.stderr
    assert f"{name}-dev" not in e2e.vault().titles()


def test_postgres_down_is_a_clear_error_and_leaves_no_item_or_role(
        e2e: E2E, tmp_path: Path) -> None:
    folder = _manifest(tmp_path / "app", e2e.info.gateway_url)
    name = project()
    cluster = e2e.stack.cluster()
    cluster.stop()
    try:
        run = e2e.cli("provision", name, cwd=folder)
    finally:
        e2e.stack.up()
    assert run.returncode == 1
    assert "unavailable" in run.stderr
    assert f"{name}-dev" not in e2e.vault().titles()
    assert e2e.roles(name) == set()


def test_unreadable_vault_key_is_a_clear_error(e2e: E2E) -> None:
    key = e2e.home / "vault" / "vault.key"
    key.chmod(0o644)
    try:
        run = e2e.cli("provision", project())
    finally:
        key.chmod(0o600)
    assert run.returncode == 2
    assert "chmod 600" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_vault_key_is_a_clear_error(e2e: E2E) -> None:
    key = e2e.home / "vault" / "vault.key"
    saved = key.read_bytes()
    key.unlink()
    try:
        run = e2e.cli("provision", project())
    finally:
        key.write_bytes(saved)
        key.chmod(0o600)
    assert run.returncode == 1
    assert "missing" in run.stderr and "vault.key" in run.stderr


def test_help_explains_the_command(e2e: E2E) -> None:
    run = e2e.cli("provision", "--help")
    assert run.returncode == 0
    assert "--env" in run.stdout and "--json" in run.stdout


def test_debug_output_holds_no_password(e2e: E2E) -> None:
    name = project()
    run = e2e.cli("--debug", "provision", name)
    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr or "INFO" in run.stderr
    password = e2e.vault().get_item(f"{name}-dev").text("password")
    assert password not in run.stdout + run.stderr
