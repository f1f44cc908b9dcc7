"""Where vaultgate keeps its state: VAULTGATE_HOME, else the user data dir."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    override = os.environ.get("VAULTGATE_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("vaultgate", appauthor=False))
