"""Helpers for tests that drive the real `vaultgate` process and local vault."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vaultgate.vaults.local import LocalVault

# A child script that writes the named variables' bytes, NUL-separated, to a file.
DUMP_ENV = (
    "import os, sys\n"
    "out = b'\\0'.join(os.environb.get(k.encode(), b'<unset>') for k in sys.argv[2:])\n"
    "open(sys.argv[1], 'wb').write(out)\n"
)


def vaultgate(*args: str, cwd: Path, env: Mapping[str, str] | None = None,
              input: bytes | None = None, timeout: float = 30,
              **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m vaultgate ARGS` with the test's environment plus env."""
    return subprocess.run([sys.executable, "-m", "vaultgate", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, input=input,
                          capture_output=True, timeout=timeout, **kwargs)


def local_vault() -> LocalVault:
    """The local vault under the current VAULTGATE_HOME."""
    return LocalVault.from_settings({})


def nasty_value(length: int = 0) -> str:
    """A generated value with newlines, $, quotes, =, backslashes and unicode."""
    core = (f"{secrets.token_urlsafe(12)}\nline two $HOME ${{X}} \"dq\" 'sq' "
            f"a=b==c \\n\\ tab\tünï€😀 {secrets.token_hex(6)}\n")
    if length <= len(core):
        return core
    filler = secrets.token_urlsafe(length)[: length - len(core.encode())]
    return core + filler


def python_child(script: str) -> list[str]:
    return [sys.executable, "-c", script]
