"""Closed-loop load: N client threads, each issuing requests until a deadline.

Shared by the benchmarks in this folder. A case is a factory that builds one
worker per client thread (its own HTTP client or pool handle); a worker is a
callable that issues one request and returns True when it succeeded.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Worker = Callable[[], bool]
WorkerFactory = Callable[[int], Worker]
WARMUP_CALLS = 3


@dataclass(frozen=True)
class Sample:
    """One timed run of one case at one concurrency."""

    ok: int
    errors: int
    seconds: float
    latencies: tuple[float, ...]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of values; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def run(factory: WorkerFactory, clients: int, seconds: float) -> Sample:
    """Run `clients` workers in threads for `seconds`, after a short warm-up."""
    workers = [factory(i) for i in range(clients)]
    for worker in workers:
        for _ in range(WARMUP_CALLS):
            worker()
    start = threading.Barrier(clients + 1)
    results: list[tuple[int, list[float]]] = [(0, [])] * clients

    def loop(index: int) -> None:
        start.wait()
        deadline = time.perf_counter() + seconds
        errors, latencies = 0, []
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            ok = workers[index]()
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1
        results[index] = (errors, latencies)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies = [x for _, lat in results for x in lat]
    return Sample(len(latencies), sum(e for e, _ in results), elapsed,
                  tuple(latencies))


@dataclass(frozen=True)
class Summary:
    """Medians over rounds of one (case, concurrency)."""

    rps: float
    p50_ms: float
    p95_ms: float
    requests: int
    errors: int


def summarise(samples: Sequence[Sample]) -> Summary:
    return Summary(
        rps=statistics.median(s.rps for s in samples),
        p50_ms=statistics.median(s.percentile(50) for s in samples) * 1000,
        p95_ms=statistics.median(s.percentile(95) for s in samples) * 1000,
        requests=sum(s.ok for s in samples),
        errors=sum(s.errors for s in samples),
    )
