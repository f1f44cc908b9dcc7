"""Benchmark `vaultgate run -- true` against `python -c pass`.

Runs each case once per round, rounds interleaved so drift hits all cases
alike, and prints each case's median wall time and its ratio to the baseline.
The local vault lives in a temp VAULTGATE_HOME; the bench creates its items.

    python bench/bench_run.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vaultgate.secret import generate_password
from vaultgate.vaults.local import LocalVault


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vaultgate-bench-") as tmp:
        cases = prepare(Path(tmp))
        times = measure(cases, args.rounds, Path(tmp))
    report(times, args.rounds)


def prepare(home: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Create 50 items in a fresh local vault; return each case's argv and env."""
    env = {**os.environ, "VAULTGATE_HOME": str(home / "state")}
    # An installed package has its bytecode cached; without this the bench
    # would time compiling vaultgate's sources on every start instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["VAULTGATE_HOME"] = env["VAULTGATE_HOME"]
    vault = LocalVault.from_settings({})
    for n in range(50):
        vault.create_item(f"app{n}-bench", {"credential": generate_password()})
    refs = {f"SECRET_{n}": f"op://local/app{n}-bench/credential" for n in range(50)}
    first = dict(list(refs.items())[:1])
    vaultgate = str(Path(sys.executable).with_name("vaultgate"))
    run = [vaultgate, "run", "--", "true"]
    return {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "run, 0 references": (run, env),
        "run, 1 reference": (run, {**env, **first}),
        "run, 50 references": (run, {**env, **refs}),
    }


def measure(cases: dict[str, tuple[list[str], dict[str, str]]], rounds: int,
            cwd: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv, env in cases.values():  # warm the page cache once
        subprocess.run(argv, env=env, cwd=cwd, check=True)
    for _ in range(rounds):
        for name, (argv, env) in cases.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, cwd=cwd, check=True,
                           stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    return times


def report(times: dict[str, list[float]], rounds: int) -> None:
    base = statistics.median(times["python -c pass"])
    print(f"{rounds} interleaved rounds, median wall time per start")
    print(f"{'case':<22}{'median ms':>10}{'x python':>10}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<22}{median * 1000:>10.1f}{median / base:>10.2f}")
    ratio = statistics.median(times["run, 50 references"]) / statistics.median(
        times["run, 1 reference"])
    print(f"50 references / 1 reference: {ratio:.2f}")


if __name__ == "__main__":
    main()
