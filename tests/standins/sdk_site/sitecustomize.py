"""Test-only: put the SDK core stand-in in a vaultgate subprocess.

Python imports `sitecustomize` at startup from sys.path. The end-to-end tests
put this folder on PYTHONPATH for the CLI and gateway processes they start,
and nowhere else. When VAULTGATE_TEST_SDK_CORE_URL is set, an import finder is
installed first on sys.meta_path that answers the onepassword-sdk's native
core module (`onepassword.lib.x86_64.op_uniffi_core`, and the aarch64 one)
with `_sdk_core_standin.py`, which forwards each call to the stand-in server
of tests/standins/sdk_core_server.py. The SDK's own Python code (Client,
Items, Secrets, its types and errors) runs unchanged on top of it; nothing is
imported until the SDK imports its core. Without the variable this file does
nothing but hand over to any other sitecustomize later on sys.path.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

URL_ENV = "VAULTGATE_TEST_SDK_CORE_URL"
NATIVE = frozenset({"onepassword.lib.x86_64.op_uniffi_core",
                    "onepassword.lib.aarch64.op_uniffi_core"})
HERE = Path(__file__).resolve().parent
STANDIN = HERE / "_sdk_core_standin.py"


class _StandinFinder:
    """Finds the stand-in module under the native core's import names."""

    @staticmethod
    def find_spec(name: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name not in NATIVE:
            return None
        return importlib.util.spec_from_file_location(name, STANDIN)


def _chain() -> None:
    """Run the sitecustomize this one shadows, if there is one."""
    for entry in sys.path:
        try:
            if not entry or Path(entry).resolve() == HERE:
                continue
        except OSError:
            continue
        candidate = Path(entry) / "sitecustomize.py"
        if candidate.is_file():
            spec = importlib.util.spec_from_file_location("_shadowed_sitecustomize",
                                                          candidate)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            return


if os.environ.get(URL_ENV):
    sys.meta_path.insert(0, _StandinFinder())
_chain()
