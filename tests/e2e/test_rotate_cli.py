"""`vaultgate rotate`: four re-runnable steps; a crash anywhere is repaired by
running the command again, and the old password stops working."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg
import pytest

from tests.e2e.conftest import E2E
from vaultgate import config
from vaultgate.names import Target
from vaultgate.provision import flow, rotate


def provisioned(e2e: E2E) -> Target:
    name = f"r{secrets.token_hex(5)}"
    assert e2e.cli("provision", name).returncode == 0
    return Target.of(name, "dev")


def logs_in(e2e: E2E, target: Target, field: str = "password") -> bool:
    password = e2e.vault().get_item(target.item_title).text(field)
    try:
        e2e.login(target.item_title, password=password).close()
        return True
    except psycopg.OperationalError:
        return False


def test_rotate_makes_a_new_password_current_and_refuses_the_old(e2e: E2E) -> None:
    target = provisioned(e2e)
    old = e2e.vault().get_item(target.item_title).text("password")
    run = e2e.cli("rotate", target.project, "--json")
    assert run.returncode == 0, run.stderr
    item = e2e.vault().get_item(target.item_title)
    assert item.text("password") != old
    assert item.text("password_previous") == old
    assert not item.has("password_pending")
    assert logs_in(e2e, target)
    assert not logs_in(e2e, target, "password_previous")
    with psycopg.connect(item.text("url")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert item.text("password") not in run.stdout + run.stderr


def _session() -> flow.Session:
    return flow.open_session(config.Manifest(None).environment("dev"),
                             lambda message: None)


Step = Callable[[flow.Session, Target], object]
STEPS: list[Step] = [rotate.stage_pending, rotate.apply_pending, rotate.test_pending]


@pytest.mark.parametrize("done", [1, 2, 3], ids=["after-create", "after-set",
                                                 "after-test"])
def test_interrupted_rotation_leaves_a_working_password_and_a_rerun_finishes(
        e2e: E2E, done: int) -> None:
    target = provisioned(e2e)
    session = _session()
    with session.client:
        for step in STEPS[:done]:
            step(session, target)
    item = e2e.vault().get_item(target.item_title)
    assert logs_in(e2e, target) or logs_in(e2e, target, "password_pending")
    pending = item.text("password_pending")
    run = e2e.cli("rotate", target.project, "--json")
    assert run.returncode == 0, run.stderr
    final = e2e.vault().get_item(target.item_title)
    assert final.text("password") == pending
    assert logs_in(e2e, target)
    assert not final.has("password_pending")


def test_kill_9_at_any_moment_then_rerun_converges(e2e: E2E) -> None:
    target = provisioned(e2e)
    for delay in (0.05, 0.2, 0.35, 0.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "vaultgate", "rotate", target.project],
            env=e2e.env(), cwd=e2e.home, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert logs_in(e2e, target) or logs_in(e2e, target, "password_pending")
    run = e2e.cli("rotate", target.project)
    assert run.returncode == 0, run.stderr
    assert logs_in(e2e, target)
    assert not e2e.vault().get_item(target.item_title).has("password_pending")


def test_rotate_of_an_unprovisioned_project_is_a_clear_error(e2e: E2E) -> None:
    run = e2e.cli("rotate", f"n{secrets.token_hex(4)}")
    assert run.returncode == 1
    assert "not found" in run.stderr and "provision" in run.stderr


def test_rotate_refuses_an_app_secret_and_changes_nothing(e2e: E2E) -> None:
    name = f"s{secrets.token_hex(4)}"
    assert e2e.cli("secret", "new", name, "--env", "dev").returncode == 0
    before = dict(e2e.vault().get_item(f"{name}-dev").fields)
    run = e2e.cli("rotate", name)
    assert run.returncode == 1
    assert "not a database credential" in run.stderr
    assert dict(e2e.vault().get_item(f"{name}-dev").fields) == before
