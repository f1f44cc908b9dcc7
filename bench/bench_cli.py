"""Process start time of `vaultgate --help` and `--version` against `python -c pass`.

Each round runs every case once, the order rotated per round; the figures are
medians over rounds, and each ratio is to the bare interpreter measured in
the same rounds. Then `python -X importtime -m vaultgate --version` shows the
imports that cost most.

    python bench/bench_cli.py [--rounds 31] [--top 12]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

VAULTGATE = str(Path(sys.executable).with_name("vaultgate"))
CASES: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "vaultgate --version": [VAULTGATE, "--version"],
    "vaultgate --help": [VAULTGATE, "--help"],
    "python -m vaultgate --version": [sys.executable, "-m", "vaultgate", "--version"],
}
BASELINE = "python -c pass"
# Measure with bytecode caches, as users run it, but keep them out of the
# source tree: the warm-up run fills a private cache folder.
PYCACHE = tempfile.mkdtemp(prefix="vaultgate-bench-pycache-")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = PYCACHE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    try:
        times = measure(args.rounds)
        report(times, args.rounds)
        costs = import_costs(args.top)
    finally:
        shutil.rmtree(PYCACHE, ignore_errors=True)
    print(f"\nslowest imports of `python -X importtime -m vaultgate --version` "
          f"(cumulative, top {args.top}):")
    for cumulative_us, self_us, name in costs:
        print(f"  {cumulative_us / 1000:7.1f} ms cum {self_us / 1000:6.1f} ms self"
              f"  {name}")


def measure(rounds: int) -> dict[str, list[float]]:
    """Wall seconds of each case, one run per case per round, order rotated."""
    names = list(CASES)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # one warm-up each: page cache, .pyc files
        _run(CASES[name])
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(_run(CASES[name]))
    return times


def _run(argv: Sequence[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - started


def report(times: dict[str, list[float]], rounds: int) -> None:
    base = statistics.median(times[BASELINE])
    print(f"{'case':32}{'median ms':>11}{'p90 ms':>9}{'ratio':>8}   ({rounds} rounds)")
    for name, values in times.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else median
        print(f"{name:32}{median * 1000:>11.1f}{p90 * 1000:>9.1f}"
              f"{median / base:>8.2f}")


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_costs(top: int) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, module) of the costliest imports, by cumulative."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "vaultgate",
                           "--version"], capture_output=True, text=True, check=True,
                          env=ENV)
    rows = []
    for line in done.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            depth = (len(indent) - 1) // 2
            rows.append((int(cumulative_us), int(self_us), "  " * depth + name))
    return sorted(rows, reverse=True)[:top]


if __name__ == "__main__":
    main()
