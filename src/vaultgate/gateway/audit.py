"""The audit trail: one hash-chained row per request, in the target database.

Each row stores `hash = sha256(prev_hash || canonical)`, where `canonical` is
the row's own fields as jsonb text. The hash is computed in SQL under an
advisory lock, so the gateway never reads the previous hash first and an
accepted request's row commits in the same transaction as its plan and nonce.
An edited, inserted or deleted row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

# A fixed advisory lock key: every writer of the chain takes it last.
LOCK_KEY = 0x7661756C74617564  # "vaultaud"

SETUP = """
CREATE TABLE IF NOT EXISTS vaultgate.audit (
    id bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    key_id text,
    operation text NOT NULL,
    project text,
    env text,
    status integer NOT NULL,
    steps jsonb NOT NULL,
    suppressed integer NOT NULL DEFAULT 0,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS vaultgate.audit_id;
"""

# The canonical text of a row; the same expression signs and verifies.
CANONICAL = (
    "jsonb_build_object('id', id, 'at', to_char(at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'key_id', key_id, 'operation', "
    "operation, 'project', project, 'env', env, 'status', status, 'steps', steps, "
    "'suppressed', suppressed)::text"
)

_INSERT = sql.SQL(
    "SELECT pg_advisory_xact_lock({lock});\n"
    "INSERT INTO vaultgate.audit (id, at, key_id, operation, project, env, "
    "status, steps, suppressed, prev_hash, hash)\n"
    "SELECT id, at, key_id, operation, project, env, status, steps, suppressed, "
    "prev_hash, encode(sha256(convert_to(prev_hash || {canonical}, 'UTF8')), "
    "'hex')\nFROM (SELECT nextval('vaultgate.audit_id') AS id, "
    "clock_timestamp() AS at, {key_id}::text AS key_id, {operation}::text AS "
    "operation, {project}::text AS project, {env}::text AS env, "
    "{status}::integer AS status, {steps}::jsonb AS steps, "
    "{suppressed}::integer AS suppressed, coalesce((SELECT hash FROM "
    "vaultgate.audit ORDER BY id DESC LIMIT 1), '') AS prev_hash) AS entry\n"
    "RETURNING id, hash")

SELECT_ROWS = (sql.SQL("SELECT id, prev_hash, hash, ") + sql.SQL(CANONICAL)
               + sql.SQL(" FROM vaultgate.audit ORDER BY id"))


@dataclass
class Entry:
    """What one request did; filled in as the request is checked."""

    operation: str
    key_id: str | None = None
    project: str | None = None
    env: str | None = None
    steps: list[str] = field(default_factory=list)
    recorded: bool = False


def record_statement(entry: Entry, status: int, suppressed: int = 0
                     ) -> sql.Composed:
    """The statements that append one row to the chain (lock, then insert)."""
    return _INSERT.format(
        canonical=sql.SQL(CANONICAL), lock=sql.Literal(LOCK_KEY),
        key_id=sql.Literal(entry.key_id),
        operation=sql.Literal(entry.operation), project=sql.Literal(entry.project),
        env=sql.Literal(entry.env), status=sql.Literal(status),
        steps=sql.Literal(json.dumps(entry.steps)),
        suppressed=sql.Literal(suppressed))


@dataclass(frozen=True)
class Break:
    """The first row where the chain does not hold, and why."""

    row_id: int
    reason: str


@dataclass(frozen=True)
class Report:
    """What a walk of the chain found: rows read, the first break, the head."""

    rows: int
    broken: Break | None
    head_id: int | None
    head_hash: str


def first_break(rows: Iterable[Sequence[Any]]) -> tuple[int, Break | None]:
    """Walk (id, prev_hash, hash, canonical) rows in id order; count and break."""
    report = walk(rows)
    return report.rows, report.broken


def walk(rows: Iterable[Sequence[Any]], anchor: tuple[int, str] | None = None
         ) -> Report:
    """Check every link, and that the chain still holds `anchor` (id, hash).

    The chain alone cannot show that its newest rows were deleted, or that it
    was rewritten from some row on, by someone who may write the table; a row
    id and hash kept elsewhere (the gateway logs one per accepted request) can.
    """
    previous, count, head_id, seen_anchor = "", 0, None, anchor is None
    for row_id, prev_hash, stored, canonical in rows:
        count += 1
        if prev_hash != previous:
            return Report(count, Break(row_id, "prev_hash does not match the row "
                                       "before it (a row was deleted or inserted)"),
                          head_id, previous)
        expected = hashlib.sha256((prev_hash + canonical).encode()).hexdigest()
        if stored != expected:
            return Report(count, Break(row_id, "hash does not match the row's "
                                       "contents (the row was edited)"),
                          head_id, previous)
        if anchor is not None and row_id == anchor[0]:
            if stored != anchor[1]:
                return Report(count, Break(row_id, "the row differs from the "
                                           "anchor kept outside the database (the "
                                           "chain was rewritten)"), head_id, previous)
            seen_anchor = True
        previous, head_id = stored, row_id
    if not seen_anchor and anchor is not None:
        return Report(count, Break(anchor[0], "the anchored row is missing (rows "
                                   "were deleted from the end)"), head_id, previous)
    return Report(count, None, head_id, previous)


class RefusalBudget:
    """A token bucket for audit rows of refused requests.

    A flood of unsigned requests must not turn into a flood of INSERTs: past
    the budget, refusals are counted and the count goes into the next row.
    """

    def __init__(self, per_second: float = 20.0, burst: int = 40) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._suppressed = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The suppressed count to record with this row, or None to skip it."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst,
                               self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens < 1:
                self._suppressed += 1
                return None
            self._tokens -= 1
            count, self._suppressed = self._suppressed, 0
            return count
