"""`vaultgate run` as a real process: references resolved before the child
starts, masked output, env-file precedence, forwarded signals, exit codes."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.launch.helpers import (
    DUMP_ENV,
    local_vault,
    nasty_value,
    python_child,
    vaultgate,
)

from vaultgate.resolve import database_url
from vaultgate.secret import MASK, Secret, generate_password

REF = "op://local/app-dev/credential"


@pytest.fixture
def work(vaultgate_home: Path, tmp_path: Path) -> Path:
    """A working folder with no vaultgate.toml and one app secret in the vault."""
    folder = tmp_path / "work"
    folder.mkdir()
    local_vault().create_item("app-dev", {"credential": generate_password()})
    return folder


def secret_value() -> str:
    return local_vault().get_item("app-dev").get("credential").reveal()


def dump(work: Path, *names: str, args: tuple[str, ...] = (),
         env: dict[str, str] | None = None) -> list[bytes]:
    out = work / "dump"
    result = vaultgate("run", *args, "--", *python_child(DUMP_ENV), str(out), *names,
                       cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    return out.read_bytes().split(b"\0")


def test_a_reference_in_the_environment_is_resolved(work: Path) -> None:
    assert dump(work, "TOKEN", env={"TOKEN": REF}) == [secret_value().encode()]


def test_awkward_values_survive_byte_for_byte(work: Path) -> None:
    values = {"NL": nasty_value(), "BIG": nasty_value(4096)}
    assert len(values["BIG"].encode()) >= 4096
    vault = local_vault()
    vault.create_item("odd-dev", values)
    env = {k: f"op://local/odd-dev/{k}" for k in values}
    assert dump(work, "NL", "BIG", env=env) == [v.encode() for v in values.values()]


def test_files_win_over_the_shell_and_the_last_file_wins(work: Path) -> None:
    (work / "one.env").write_text(f"A=from-one\nB=from-one\nexport TOKEN = '{REF}'\n")
    (work / "two.env").write_text("# later wins\nB=from-two\n")
    env = {"A": "shell", "B": "shell", "C": "shell", "TOKEN": "shell"}
    got = dump(work, "A", "B", "C", "TOKEN", env=env,
               args=("--env-file", "one.env", "--env-file", "two.env"))
    assert got == [b"from-one", b"from-two", b"shell", secret_value().encode()]


def test_variables_inside_a_reference_are_expanded_first(work: Path) -> None:
    (work / "app.env").write_text('TOKEN="op://${VAULT}/app-$APP_ENV/credential"\n')
    got = dump(work, "TOKEN", args=("--env-file", "app.env"),
               env={"VAULT": "local", "APP_ENV": "dev"})
    assert got == [secret_value().encode()]


def test_database_url_from_the_url_field_keeps_an_awkward_password(work) -> None:
    import psycopg.conninfo

    awkward = Secret(f"{generate_password(9).reveal()}@/:#%?{os.urandom(2).hex()}")
    url = database_url("127.0.0.1", 5432, "billing", "billing_dev", awkward)
    local_vault().create_item("billing-dev", {"password": awkward, "url": url})
    (got,) = dump(work, "DATABASE_URL",
                  env={"DATABASE_URL": "op://local/billing-dev/url"})
    assert got == url.reveal_bytes()
    assert psycopg.conninfo.conninfo_to_dict(got.decode())["password"] == (
        awkward.reveal())


def test_secrets_are_masked_on_stdout_and_stderr(work: Path) -> None:
    script = ("import os, sys\nv = os.environ['TOKEN']\n"
              "print('out', v, 'end')\nprint('err', v, file=sys.stderr)\n")
    result = vaultgate("run", "--", *python_child(script), cwd=work,
                       env={"TOKEN": REF})
    assert result.returncode == 0
    assert result.stdout == f"out {MASK} end\n".encode()
    assert result.stderr == f"err {MASK}\n".encode()


def test_the_password_inside_a_resolved_url_is_masked(work: Path) -> None:
    """A child printing the URL's password, decoded or not, shows the mask."""
    password = Secret(f"{generate_password(9).reveal()}@/:#%?{os.urandom(2).hex()}")
    url = database_url("127.0.0.1", 5432, "billing", "billing_dev", password)
    local_vault().create_item("billing-dev", {"url": url})
    script = ("import os\nfrom urllib.parse import urlsplit\n"
              "parts = urlsplit(os.environ['DATABASE_URL'])\n"
              "print(parts.password)\n"
              "from urllib.parse import unquote\nprint(unquote(parts.password))\n")
    result = vaultgate("run", "--", *python_child(script), cwd=work,
                       env={"DATABASE_URL": "op://local/billing-dev/url"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{MASK}\n{MASK}\n".encode()


def test_a_secret_split_across_writes_is_still_masked(work: Path) -> None:
    value = nasty_value(4096)
    local_vault().create_item("big-dev", {"v": value})
    script = ("import os, sys, time\nv = os.environb[b'BIG']\n"
              "for i in range(0, len(v), 333):\n"
              "    os.write(1, v[i:i + 333]); time.sleep(0.01)\n"
              "os.write(1, b'|' + v[:10] + b'|')\n")
    result = vaultgate("run", "--", *python_child(script), cwd=work,
                       env={"BIG": "op://local/big-dev/v"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == MASK.encode() + b"|" + value.encode()[:10] + b"|"


def test_no_masking_lets_the_child_inherit_the_terminal(work: Path) -> None:
    script = ("import os, stat, sys\nst = os.fstat(1)\n"
              "print(st.st_ino, stat.S_ISFIFO(st.st_mode), os.environ['TOKEN'])\n")
    for flag, inherited in (("--no-masking", True), ("--env-file=/dev/null", False)):
        out = work / "out.txt"
        with out.open("wb") as handle:
            subprocess.run([sys.executable, "-m", "vaultgate", "run", flag, "--",
                            *python_child(script)], cwd=work, stdout=handle,
                           env={**os.environ, "TOKEN": REF}, check=True, timeout=30)
        ino, fifo, value = out.read_text().rstrip("\n").split(" ", 2)
        assert (int(ino) == out.stat().st_ino) is inherited
        assert fifo == str(not inherited)
        assert value == (secret_value() if inherited else MASK)


@pytest.mark.parametrize("env, words", [
    ({"T": "op://local/app-dev"}, "T: invalid secret reference"),
    ({"T": "op://local/absent-dev/credential"}, "item 'absent-dev' not found"),
    ({"T": "op://local/app-dev/nofield"}, "field 'nofield' not found"),
    ({"T": "op://elsewhere/app-dev/credential"}, "vault 'elsewhere'"),
    ({"T": "op://local/app-$UNSET_VAR/credential"}, "$UNSET_VAR, which is not set"),
])
def test_a_resolution_failure_never_starts_the_child(work: Path, env, words) -> None:
    marker = work / "started"
    env = {"OK": REF, **env}
    env.pop("UNSET_VAR", None)
    result = vaultgate("run", "--", "touch", str(marker), cwd=work, env=env)
    assert result.returncode != 0
    assert not marker.exists()
    assert words in result.stderr.decode()
    assert "T=" in result.stderr.decode() or "T:" in result.stderr.decode()
    assert secret_value() not in result.stderr.decode()


def test_an_ambiguous_vault_never_starts_the_child(work: Path) -> None:
    (work / "vaultgate.toml").write_text(
        '[vault.a]\nbackend = "local"\n[vault.b]\nbackend = "local"\n')
    marker = work / "started"
    result = vaultgate("run", "--", "touch", str(marker), cwd=work, env={"T": REF})
    assert result.returncode == 2
    assert not marker.exists()
    assert "[vault.a] and [vault.b]" in result.stderr.decode()


def test_an_unreachable_vault_never_starts_the_child(work: Path,
                                                     vaultgate_home: Path) -> None:
    (vaultgate_home / "vault" / "vault.key").unlink()
    marker = work / "started"
    result = vaultgate("run", "--", "touch", str(marker), cwd=work, env={"T": REF})
    assert result.returncode == 1
    assert not marker.exists()
    assert f"cannot resolve T={REF}" in result.stderr.decode()
    assert "key file" in result.stderr.decode()


def test_a_bad_env_file_never_starts_the_child(work: Path) -> None:
    (work / "bad.env").write_text("GOOD=1\nBROKEN\n")
    marker = work / "started"
    result = vaultgate("run", "--env-file", "bad.env", "--", "touch", str(marker),
                       cwd=work)
    assert result.returncode == 2
    assert not marker.exists()
    assert "bad.env, line 2" in result.stderr.decode()


@pytest.mark.parametrize("source", ["env file", "vault item"])
def test_a_nul_byte_in_a_value_is_one_clear_error(work: Path, source: str) -> None:
    """Exit 2 naming the variable, never the value; the child never starts."""
    value = f"{secrets.token_hex(8)}\0{secrets.token_hex(8)}"
    if source == "env file":
        (work / "nul.env").write_bytes(f"OK=1\nTOKEN={value}\n".encode())
        args, env = ("--env-file", "nul.env"), {}
    else:
        local_vault().create_item("nul-dev", {"v": value})
        args, env = (), {"TOKEN": "op://local/nul-dev/v"}
    marker = work / "started"
    result = vaultgate("run", *args, "--", "touch", str(marker), cwd=work, env=env)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert not marker.exists()
    assert "variable TOKEN holds a NUL byte" in err
    assert "Traceback" not in err
    assert value.split("\0")[0] not in err and value.split("\0")[1] not in err


def test_without_references_the_vault_is_not_opened(tmp_path, vaultgate_home) -> None:
    result = vaultgate("run", "--", "true", cwd=tmp_path)
    assert result.returncode == 0
    assert list(vaultgate_home.iterdir()) == []


@pytest.mark.parametrize("code", [0, 3, 255])
def test_the_child_exit_code_is_returned(work: Path, code: int) -> None:
    result = vaultgate("run", "--", "sh", "-c", f"exit {code}", cwd=work,
                       env={"T": REF})
    assert result.returncode == code


def test_a_missing_command_exits_127(work: Path) -> None:
    result = vaultgate("run", "--", "no-such-command-here", cwd=work)
    assert result.returncode == 127
    assert "'no-such-command-here' not found" in result.stderr.decode()


def test_a_child_killed_by_sigkill_gives_137(work: Path) -> None:
    script = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    result = vaultgate("run", "--", *python_child(script), cwd=work, env={"T": REF})
    assert result.returncode == 137


TRAP = """
import pathlib, signal, sys, time
def handler(signum, frame):
    sys.exit(7 if signum == signal.SIGTERM else 100 + signum)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, handler)
pathlib.Path(sys.argv[1]).write_text("ready")
while True:
    time.sleep(1)
"""


def start_trapping(work: Path, *script_args: str,
                   script: str = TRAP) -> subprocess.Popen[bytes]:
    ready = work / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "vaultgate", "run", "--",
         *python_child(script), str(ready), *script_args],
        cwd=work, env={**os.environ, "T": REF}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the child never became ready"
        time.sleep(0.02)
    return process


@pytest.mark.parametrize("sig, code", [
    (signal.SIGTERM, 7),
    (signal.SIGINT, 100 + signal.SIGINT),
    (signal.SIGHUP, 100 + signal.SIGHUP),
])
def test_signals_are_forwarded_to_the_child(work: Path, sig, code) -> None:
    process = start_trapping(work)
    os.kill(process.pid, sig)
    assert process.wait(timeout=20) == code


def test_a_child_dying_of_a_forwarded_signal_gives_128_plus_n(work: Path) -> None:
    script = ("import pathlib, sys, time\npathlib.Path(sys.argv[1]).write_text('r')\n"
              "time.sleep(60)\n")
    process = start_trapping(work, script=script)
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=20) == 128 + signal.SIGTERM



COUNT_SIGINT = """
import pathlib, signal, sys, time
seen = []
signal.signal(signal.SIGINT, lambda n, f: seen.append(n))
pathlib.Path(sys.argv[1]).write_text("ready")
deadline = time.monotonic() + 20
while not seen and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.5)  # time for a duplicate to arrive
pathlib.Path(sys.argv[2]).write_text(str(len(seen)))
"""


def test_ctrl_c_at_a_terminal_is_the_child_s_to_handle(work: Path) -> None:
    """The tty signals the whole foreground group: the child handles it and
    vaultgate, instead of dying, exits with the child's code.

    (Whether vaultgate also adds a copy cannot be told apart here: two SIGINTs
    a few microseconds apart coalesce in the kernel or in Python.)"""
    import pty

    ready, count = work / "ready", work / "count"
    argv = [sys.executable, "-m", "vaultgate", "run", "--",
            *python_child(COUNT_SIGINT), str(ready), str(count)]
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose terminal is the pty
        os.environ["T"] = REF
        os.execv(argv[0], argv)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.write(master, b"\x03")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0
    assert count.read_text() == "1"


def test_a_grandchild_holding_the_output_open_does_not_trap_the_user(work) -> None:
    """vaultgate waits for the output to end, but a SIGTERM gets it out."""
    script = ("import pathlib, subprocess, sys\n"
              "sleeper = subprocess.Popen(['sleep', '30'])\n"
              "pathlib.Path(sys.argv[2]).write_text(str(sleeper.pid))\n"
              "pathlib.Path(sys.argv[1]).write_text('ready')\n"
              "sys.exit(5)\n")
    process = start_trapping(work, str(work / "sleeper"), script=script)
    try:
        time.sleep(0.3)
        assert process.poll() is None  # the sleep still holds stdout open
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=10) == 5
    finally:
        os.kill(int((work / "sleeper").read_text()), signal.SIGKILL)
