"""Profile the gateway process under bench_gateway's load with py-spy.

Starts the same database, roles and gateway as bench_gateway.py, drives
POST /v1/password from N client threads, and attaches `py-spy record` to the
gateway process for the run. Prints where to find the flame graph and the
top frames (py-spy's --format raw, folded stacks). py-spy is not a project
dependency: pip install py-spy into the venv first.

    python bench/profile_gateway.py [--clients 8] [--seconds 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from _load import run  # noqa: E402
from _pg15 import BenchCluster  # noqa: E402
from bench_gateway import gateway_case, provision  # noqa: E402
from tests.gateway_process import start_gateway  # noqa: E402


def main() -> None:
    args = _arguments()
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy in the venv")
    cluster = BenchCluster()
    cluster.create()
    try:
        with tempfile.TemporaryDirectory(prefix="vaultgate-profile-") as tmp:
            gateway = start_gateway(Path(tmp) / "gateway", host="127.0.0.1",
                                    port=5432, database=cluster.database,
                                    admin_user=cluster.gateway_role,
                                    admin_secret=cluster.login_secret, extensions=())
            try:
                targets = provision(gateway, cluster, args.clients)
                folded = profile(spy, gateway.process.pid, args, targets, gateway)
            finally:
                gateway.stop()
    finally:
        cluster.drop(args.clients)
    print_top(folded, args.top)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path("."))
    return parser.parse_args()


def profile(spy: str, pid: int, args: argparse.Namespace, targets: list,
            gateway: object) -> Path:
    """Record the gateway while the load runs; return the folded-stacks file."""
    args.out.mkdir(parents=True, exist_ok=True)
    folded = args.out / "gateway-profile.txt"
    svg = args.out / "gateway-profile.svg"
    duration = str(int(args.seconds) + 1)
    recorders = [subprocess.Popen([spy, "record", "--pid", str(pid), "--duration",
                                   duration, "--format", fmt, "--output", str(path),
                                   "--idle", "--nonblocking"],
                                  stdout=subprocess.DEVNULL)
                 for fmt, path in (("raw", folded), ("flamegraph", svg))]
    sample = run(gateway_case(gateway, targets), args.clients,  # type: ignore
                 args.seconds)
    for recorder in recorders:
        recorder.wait(60)
    print(f"{sample.rps:.1f} req/s over {args.clients} clients while profiled; "
          f"flame graph: {svg}")
    return folded


def print_top(folded: Path, top: int) -> None:
    """Share of samples in which each function appears (inclusive)."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, text = line.rpartition(" ")
        total += int(text)
        for frame in set(stack.split(";")):
            inclusive[frame] += int(text)
    print(f"\ntop frames by inclusive share of {total} samples (idle included):")
    for frame, samples in inclusive.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
