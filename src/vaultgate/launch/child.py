"""Run the child process: masked output, forwarded signals, its exit code.

vaultgate blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD and takes them with
sigwaitinfo, so a signal can never arrive between "child started" and
"handler installed". The child gets a clean signal mask and default
dispositions. A SIGINT or SIGHUP the terminal sent to the whole foreground
process group already reached the child, so it is not sent a second time.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from vaultgate.errors import VaultgateError

if TYPE_CHECKING:
    from vaultgate.launch.masking import Masker

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Python ignores SIGPIPE and SIGXFSZ; the child should get the defaults back.
_DEFAULTS = (*FORWARDED, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGQUIT)
_SI_KERNEL = 0x80  # si_code of a signal the kernel (e.g. the tty) generated
_CHUNK = 65536


def run(argv: Sequence[str], env: Mapping[str, str],
        mask: Sequence[bytes] | None) -> int:
    """Run argv; return its exit code, or 128+N if it died of signal N.

    With `mask`, the child's stdout and stderr pass through a Masker;
    with None the child inherits the terminal.
    """
    watched = {*FORWARDED, signal.SIGCHLD}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        pumps = _Pumps(mask) if mask is not None else None
        try:
            pid = _spawn(argv, env, pumps.file_actions() if pumps else [])
        except VaultgateError:
            if pumps:
                pumps.close()
            raise
        if pumps:
            pumps.start()
        status = _wait(pid, watched)
        if pumps:
            _drain(pumps)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _spawn(argv: Sequence[str], env: Mapping[str, str],
           actions: list[tuple[int, ...]]) -> int:
    try:
        return os.posix_spawnp(argv[0], list(argv), dict(env),
                               file_actions=actions, setsigmask=(),
                               setsigdef=_DEFAULTS)
    except FileNotFoundError:
        raise _spawn_error(f"command {argv[0]!r} not found; check its name "
                           "and PATH", 127) from None
    except PermissionError:
        raise _spawn_error(f"command {argv[0]!r} is not executable; check "
                           "its mode", 126) from None
    except OSError as exc:
        raise _spawn_error(f"cannot start {argv[0]!r}: {exc.strerror}", 126) from None


def _spawn_error(message: str, code: int) -> VaultgateError:
    # Shells exit 127 for "not found" and 126 for "cannot execute".
    error = VaultgateError(message)
    error.exit_code = code
    return error


def _wait(pid: int, watched: set[signal.Signals]) -> int:
    while True:
        info = signal.sigwaitinfo(watched)
        if info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            continue
        if info.si_code == _SI_KERNEL and _same_group(pid):
            continue
        try:
            os.kill(pid, info.si_signo)
        except ProcessLookupError:
            pass


def _drain(pumps: _Pumps) -> None:
    """Wait for the rest of the output; a signal now ends the wait.

    A grandchild that keeps the pipes open keeps vaultgate waiting, as it
    would keep a shell pipeline open, but Ctrl-C still gets the user out.
    """
    while pumps.alive():
        pumps.join(0.05)
        if signal.sigtimedwait(FORWARDED, 0) is not None:
            return


def _same_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == os.getpgrp()
    except ProcessLookupError:
        return False


class _Pumps:
    """Two pipes, for the child's stdout and stderr, each drained by a thread."""

    def __init__(self, mask: Sequence[bytes]) -> None:
        self._mask = list(mask)
        self._pipes = [(os.pipe(), 1), (os.pipe(), 2)]
        self._threads: list[threading.Thread] = []

    def file_actions(self) -> list[tuple[int, ...]]:
        return [(os.POSIX_SPAWN_DUP2, write, target)
                for (_read, write), target in self._pipes]

    def start(self) -> None:
        from vaultgate.launch.masking import Masker

        for (read, write), target in self._pipes:
            os.close(write)
            thread = threading.Thread(target=_pump, daemon=True,
                                      args=(read, target, Masker(self._mask)))
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        for pipe, _target in self._pipes:
            for fd in pipe:
                os.close(fd)

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)


def _pump(source: int, target: int, masker: Masker) -> None:
    writable = True
    try:
        while chunk := os.read(source, _CHUNK):
            writable = _write(target, masker.feed(chunk)) if writable else False
        if writable:
            _write(target, masker.flush())
    finally:
        os.close(source)


def _write(fd: int, data: bytes) -> bool:
    """Write all of data; False once the reader has gone (keep draining)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # EPIPE and friends: the reader is gone
        return False
    return True
