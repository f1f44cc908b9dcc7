"""LocalStack end to end: the real CLI, the real gateway, the real vault."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from vaultgate.localstack.stack import (
    ADMIN_ITEM,
    GATEWAY_DB_ITEM,
    SIGNING_ITEM,
    LocalStack,
    StackInfo,
)
from vaultgate.secret import generate_password


@pytest.fixture(scope="module")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A state dir with a running stack, brought up by the real CLI."""
    home = tmp_path_factory.mktemp("stack") / "home"
    stack = LocalStack(home)
    try:
        yield home
    finally:
        stack.down()
        shutil.rmtree(stack.cluster_base, ignore_errors=True)


# Secrets the process that runs `up` holds, as `vaultgate run -- vaultgate up`
# or a shell with BAO_TOKEN exported would; generated per run.
CALLER_SECRETS = {"DATABASE_URL": generate_password().reveal(),
                  "BAO_TOKEN": generate_password().reveal(),
                  "PGPASSWORD": generate_password().reveal()}


@pytest.fixture(scope="module")
def up_result(stack_home: Path) -> Iterator[tuple[StackInfo, list[bytes]]]:
    """Run `up` holding CALLER_SECRETS while a thread records every argv."""
    seen: list[bytes] = []
    done = threading.Event()
    watcher = threading.Thread(target=_watch_cmdlines, args=(seen, done))
    saved = {name: os.environ.get(name) for name in CALLER_SECRETS}
    os.environ.update(CALLER_SECRETS)
    watcher.start()
    try:
        info = LocalStack(stack_home).up()
    finally:
        done.set()
        watcher.join()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    yield info, seen


def test_up_starts_a_healthy_gateway_and_postgres(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    info, _ = up_result
    assert httpx.get(info.gateway_url + "/healthz", timeout=5).status_code == 200
    status = LocalStack(stack_home).status()
    assert status.running and status.pg_port == info.pg_port
    assert info.pg_host == "127.0.0.1" and info.database == "vaultgate"
    assert "vector" in info.extensions and "citext" in info.extensions


def test_up_again_changes_nothing(up_result: tuple[StackInfo, list[bytes]],
                                  stack_home: Path) -> None:
    info, _ = up_result
    before = LocalStack(stack_home).status()
    assert LocalStack(stack_home).up() == info
    after = LocalStack(stack_home).status()
    assert (after.pg_pid, after.gateway_pid) == (before.pg_pid, before.gateway_pid)


def test_admin_from_the_vault_logs_in_and_a_wrong_password_does_not(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    info, _ = up_result
    item = LocalStack(stack_home).vault().get_item(ADMIN_ITEM)
    login = {"host": info.pg_host, "port": info.pg_port, "dbname": info.database,
             "user": item.text("username")}
    with psycopg.connect(**login, password=item.get("password").reveal()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        psycopg.connect(**login, password=generate_password().reveal())


def test_gateway_db_role_is_not_superuser(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    info, _ = up_result
    item = LocalStack(stack_home).vault().get_item(GATEWAY_DB_ITEM)
    with psycopg.connect(host=info.pg_host, port=info.pg_port, dbname=info.database,
                         user=item.text("username"),
                         password=item.get("password").reveal()) as conn:
        row = conn.execute("SELECT rolsuper, rolcreaterole FROM pg_roles "
                           "WHERE rolname = current_user").fetchone()
    assert row == (False, True)


def test_no_secret_in_any_argv_during_up(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    _, seen = up_result
    assert seen, "the watcher saw no process at all"
    for secret in _secrets(stack_home):
        assert not any(secret in cmdline for cmdline in seen)


def test_the_gateway_does_not_inherit_the_callers_secrets(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    """The long-lived gateway gets an allowlisted environment only."""
    pid = LocalStack(stack_home).status().gateway_pid
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    names = {entry.split(b"=", 1)[0] for entry in environ.split(b"\0") if entry}
    for name, value in CALLER_SECRETS.items():
        assert value.encode() not in environ
        assert name.encode() not in names
    assert b"PATH" in names


def test_no_secret_in_config_or_logs(up_result: tuple[StackInfo, list[bytes]],
                                     stack_home: Path) -> None:
    stack = LocalStack(stack_home)
    files = [stack.config_path, stack.gateway_log, stack.cluster().log_path]
    texts = [path.read_bytes() for path in files]
    for secret in _secrets(stack_home):
        assert not any(secret in text for text in texts)


def test_vault_key_and_stack_files_are_private(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    stack = LocalStack(stack_home)
    vault = stack.vault()
    for path in (vault.path, vault.key_path, stack.config_path, stack.gateway_log):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    for folder in (vault.path.parent, stack.stack_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_data_dir_is_0700_and_owned_by_the_server_user(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    cluster = LocalStack(stack_home).cluster()
    st = cluster.data_dir.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == cluster.user.uid


def test_signing_key_has_a_local_key_id(
        up_result: tuple[StackInfo, list[bytes]], stack_home: Path) -> None:
    item = LocalStack(stack_home).vault().get_item(SIGNING_ITEM)
    assert item.text("key_id").startswith("local-")
    assert len(item.get("key").reveal()) == 43  # 32 bytes, base64url, no padding


def test_cli_up_down_status_and_folder_modes(vaultgate_home: Path) -> None:
    """Two concurrent `up` end in one stack; parent folder modes stay unchanged."""
    watched = [*_parents(vaultgate_home), Path("/var/lib")]
    modes = {p: p.stat().st_mode for p in watched if p.exists()}
    try:
        runs = [_cli("up", "--json", home=vaultgate_home, wait=False)
                for _ in range(2)]
        outputs = [_finish(run) for run in runs]
        infos = [json.loads(out) for out in outputs]
        assert infos[0] == infos[1]
        status = json.loads(_cli("status", "--json", home=vaultgate_home))
        assert status["running"] is True
        assert json.loads(_cli("down", "--json", home=vaultgate_home))[
            "running"] is False
    finally:
        LocalStack(vaultgate_home).down()
        shutil.rmtree(LocalStack(vaultgate_home).cluster_base, ignore_errors=True)
    assert {p: p.stat().st_mode for p in modes} == modes


def test_gateway_that_never_gets_healthy_fails_clearly(vaultgate_home: Path) -> None:
    from vaultgate.errors import StackError

    command = [sys.executable, "-c", "print('stand-in gateway refuses'); exit(3)"]
    stack = LocalStack(vaultgate_home, gateway_command=command, durable=False)
    try:
        with pytest.raises(StackError, match="stand-in gateway refuses"):
            stack.up()
        assert not stack.status().gateway_running
    finally:
        stack.down()
        shutil.rmtree(stack.cluster_base, ignore_errors=True)


def test_a_cluster_whose_vault_is_gone_fails_clearly_and_purge_recovers(
        vaultgate_home: Path) -> None:
    """A lost vault: `up` names the cluster and the fix, starts nothing, and
    writes nothing; `down --purge` deletes the cluster and `up` works again."""
    from vaultgate.errors import StackError

    stack = LocalStack(vaultgate_home, durable=False)
    try:
        stack.up()
        stack.down()
        shutil.rmtree(vaultgate_home / "vault")
        with pytest.raises(StackError) as caught:
            stack.up()
        message = str(caught.value)
        assert str(stack.cluster_base) in message and "down --purge" in message
        assert not stack.status().postgres_running
        assert not (vaultgate_home / "vault" / "vault.enc").exists()

        out = _cli("down", "--purge", home=vaultgate_home)
        assert "cluster deleted" in out
        assert not stack.cluster_base.exists()
        assert stack.up().pg_port > 0
    finally:
        stack.down(purge=True)


def test_an_admin_password_that_does_not_log_in_stops_the_server_again(
        vaultgate_home: Path) -> None:
    from vaultgate.errors import StackError

    stack = LocalStack(vaultgate_home, durable=False)
    try:
        stack.up()
        stack.down()
        vault = stack.vault()
        fields = dict(vault.get_item(ADMIN_ITEM).fields)
        fields["password"] = generate_password()
        vault.update_item(ADMIN_ITEM, fields)
        with pytest.raises(StackError, match="does not log in") as caught:
            stack.up()
        assert str(stack.cluster_base) in str(caught.value)
        assert not stack.status().postgres_running
    finally:
        stack.down(purge=True)


def test_down_says_where_the_data_lives(vaultgate_home: Path) -> None:
    out = _cli("down", home=vaultgate_home)
    cluster = LocalStack(vaultgate_home).cluster()
    assert f"data kept in {cluster.data_dir}" in out
    assert "vaultgate down --purge" in out


# -- helpers ----------------------------------------------------------------


def _secrets(home: Path) -> list[bytes]:
    vault = LocalStack(home).vault()
    values = [vault.get_item(ADMIN_ITEM).get("password"),
              vault.get_item(GATEWAY_DB_ITEM).get("password"),
              vault.get_item(SIGNING_ITEM).get("key")]
    return [value.reveal_bytes() for value in values]


def _watch_cmdlines(seen: list[bytes], done: threading.Event) -> None:
    while not done.is_set():
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    seen.append((entry / "cmdline").read_bytes())
                except OSError:
                    pass
        done.wait(0.005)


def _parents(path: Path) -> list[Path]:
    return [path, *path.parents]


def _cli(*args: str, home: Path, wait: bool = True) -> object:
    env = {**os.environ, "VAULTGATE_HOME": str(home)}
    run = subprocess.Popen([sys.executable, "-m", "vaultgate", *args], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return _finish(run) if wait else run


def _finish(run: object) -> str:
    assert isinstance(run, subprocess.Popen)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err.decode()
    return out.decode()
