"""The operating-system side of running PostgreSQL: who runs it, and from where.

PostgreSQL refuses to run as root. As root we run it as a dedicated system
user, and we never loosen the mode of a folder we did not create: if that user
cannot reach the server binaries, we copy them once into a root-owned cache.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vaultgate.errors import StackError

log = logging.getLogger("vaultgate.localstack")

SERVER_USER = "vaultgate-pg"
SYSTEM_ROOT = Path("/var/lib/vaultgate")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServerUser:
    """The account PostgreSQL runs as; `switch` is true when it is not us."""

    name: str
    uid: int
    gid: int
    switch: bool

    def popen_kwargs(self) -> dict[str, object]:
        """Keyword arguments that make subprocess run a program as this user."""
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.switch:
            os.chown(path, self.uid, self.gid)


def is_root() -> bool:
    return os.geteuid() == 0


def server_user(progress: Progress | None = None) -> ServerUser:
    """Return who runs PostgreSQL: ourselves, or vaultgate-pg when we are root."""
    if not is_root():
        entry = pwd.getpwuid(os.geteuid())
        return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, False)
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        _create_system_user(progress)
        entry = pwd.getpwnam(SERVER_USER)
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, True)


def _create_system_user(progress: Progress | None) -> None:
    message = (
        f"creating system user {SERVER_USER!r} to run PostgreSQL, "
        "which refuses to run as root"
    )
    log.warning(message)
    if progress is not None:
        progress(message)
    args = ["useradd", "--system", "--no-create-home",
            "--shell", "/usr/sbin/nologin", SERVER_USER]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    # Exit status 9: another process created the user first; that is fine.
    if done.returncode not in (0, 9):
        raise StackError(
            f"could not create system user {SERVER_USER!r} "
            f"({done.stderr.strip()}); create it with: {' '.join(args)}"
        )


def can_reach(path: Path, user: ServerUser, *, need: int = os.R_OK) -> bool:
    """True if `user` can traverse every folder above `path` and access it."""
    if not user.switch:
        return os.access(path, need)
    path = Path(os.path.abspath(path))
    groups = {user.gid, *os.getgrouplist(user.name, user.gid)}
    for folder in reversed(path.parents):
        if not _allowed(folder, user, groups, os.X_OK):
            return False
    return _allowed(path, user, groups, need)


def _allowed(path: Path, user: ServerUser, groups: set[int], need: int) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_uid == user.uid:
        shift = 6
    elif st.st_gid in groups:
        shift = 3
    else:
        shift = 0
    bits = (st.st_mode >> shift) & 0o7
    wanted = (4 if need & os.R_OK else 0) | (1 if need & os.X_OK else 0)
    return bits & wanted == wanted


def install_root(bindir: Path) -> Path:
    """The folder that holds bin/, lib/ and share/ of a relocatable install."""
    return Path(bindir).resolve().parent


def install_reachable(bindir: Path, user: ServerUser) -> bool:
    """True if `user` can run the server binaries and read their lib and share."""
    root = install_root(bindir)
    if not can_reach(Path(bindir) / "postgres", user, need=os.R_OK | os.X_OK):
        return False
    for sub in ("lib", "share"):
        if (root / sub).is_dir() and not can_reach(
                root / sub, user, need=os.R_OK | os.X_OK):
            return False
    return True


def server_version(bindir: Path) -> str:
    """Return the full version of the server in bindir, e.g. '18.6'."""
    postgres = Path(bindir) / "postgres"
    if not postgres.is_file():
        raise StackError(
            f"no PostgreSQL server binary at {postgres}; pass the folder that "
            "holds initdb, pg_ctl and postgres (see `pg_config --bindir`)"
        )
    out = subprocess.run([str(postgres), "--version"], capture_output=True,
                         text=True, check=False, env=minimal_env())
    found = re.search(r"(\d+)(?:\.(\d+))?", out.stdout)
    if out.returncode != 0 or found is None:
        raise StackError(f"{postgres} --version failed: {out.stderr.strip()}")
    return found.group(0)


def reachable_bindir(bindir: Path, user: ServerUser, *,
                     cache_root: Path = SYSTEM_ROOT,
                     progress: Progress | None = None) -> Path:
    """Return a bindir `user` can run: bindir itself, or a root-owned copy."""
    if install_reachable(bindir, user):
        return Path(bindir)
    if not is_root():
        raise StackError(
            f"PostgreSQL binaries in {bindir} cannot be run by {user.name}; "
            "reinstall them in a readable location"
        )
    root = install_root(bindir)
    target = cache_root / f"pg-{server_version(bindir)}"
    relative = Path(bindir).resolve().relative_to(root)
    with file_lock(_system_folder(cache_root) / ".pg-copy.lock"):
        if not (target / relative / "postgres").is_file():
            _copy_install(root, target, user, progress)
    copied = target / relative
    if not install_reachable(copied, user):
        raise StackError(
            f"{user.name} cannot reach the PostgreSQL copy in {target}; make "
            f"every folder above it traversable (o+x) or remove {target}"
        )
    return copied


def _copy_install(root: Path, target: Path, user: ServerUser,
                  progress: Progress | None) -> None:
    message = (f"copying PostgreSQL from {root} to {target} once, so that "
               f"{user.name} can run it without loosening your folders")
    log.warning(message)
    if progress is not None:
        progress(message)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    shutil.copytree(root, staging, symlinks=True)
    for entry in [staging, *staging.rglob("*")]:
        if entry.is_symlink():
            continue
        mode = stat.S_IMODE(entry.lstat().st_mode)
        keep_x = entry.is_dir() or mode & 0o111
        os.chown(entry, 0, 0)
        entry.chmod(0o755 if keep_x else 0o644)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _system_folder(path: Path) -> Path:
    """Create a root-owned 0755 folder (only the folders we create)."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o755)
            folder.chmod(0o755)
    return path


def system_state_dir(home: Path) -> Path:
    """Where root keeps a cluster for state dir `home`, reachable by the server."""
    import hashlib

    digest = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:12]
    return SYSTEM_ROOT / digest


def make_system_root() -> None:
    """Create /var/lib/vaultgate (root-owned, 0755) if it is missing."""
    _system_folder(SYSTEM_ROOT)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` for the block."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def minimal_env() -> dict[str, str]:
    """An environment for server programs: no PG* variables, no secrets."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
            "LANG": "C"}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    """True if something listens on 127.0.0.1:port (TIME_WAIT does not count)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers bind with SO_REUSEADDR, so a port left in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start_time(pid: int) -> int | None:
    """The start time of `pid` in clock ticks (tells a reused pid apart)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()
    return int(fields[19])
