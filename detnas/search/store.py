"""The persistent store of one search: a single SQLite file (WAL), the source of truth for resume.

Every state change is one transaction, so a process killed at any moment (kill -9 included) leaves the file
consistent: finished candidates stay finished, and a candidate that was running is found as ``running`` and re-run.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
STATUSES = ("pending", "running", "done", "failed", "infeasible")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,       -- order of proposal
    genome_id TEXT NOT NULL UNIQUE,              -- a genome is never trained twice
    genome_json TEXT NOT NULL,
    yaml TEXT NOT NULL,
    origin TEXT NOT NULL,                        -- seed | sample | mutation | crossover
    parents TEXT NOT NULL DEFAULT '[]',          -- JSON list of parent genome ids
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'infeasible')),
    attempts INTEGER NOT NULL DEFAULT 0,
    map REAL, map50 REAL, latency_ms REAL, params INTEGER, gflops REAL,
    score REAL,                                  -- the proxy score the search maximises (higher is better)
    evaluation_json TEXT,
    error TEXT,
    weights TEXT,
    proposed_at REAL NOT NULL, started_at REAL, finished_at REAL,
    finish_order INTEGER                          -- order of finishing (done/failed), for aging
);
CREATE INDEX IF NOT EXISTS candidates_status ON candidates (status);
CREATE TABLE IF NOT EXISTS strategy_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Candidate:
    """One row of the candidates table."""

    seq: int
    genome_id: str
    genome_json: str
    yaml: str
    origin: str
    parents: tuple[str, ...]
    status: str
    attempts: int
    map: float | None
    map50: float | None
    latency_ms: float | None
    params: int | None
    gflops: float | None
    score: float | None
    evaluation_json: str | None
    error: str | None
    weights: str | None
    proposed_at: float
    started_at: float | None
    finished_at: float | None
    finish_order: int | None

    @property
    def evaluation(self) -> dict[str, Any] | None:
        return json.loads(self.evaluation_json) if self.evaluation_json else None


class Store:
    """One search's SQLite file. Only one process writes it (the search driver)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)  # explicit transactions below
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a finished candidate survives power loss, not only kill -9
        self._db.executescript(_SCHEMA)
        self._add_score_column()
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", SCHEMA_VERSION)

    def _add_score_column(self) -> None:
        """Stores written before proxies existed ranked by mAP: give them the score column, filled with their mAP."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(candidates)")}
        if "score" not in columns:
            with self.transaction() as db:
                db.execute("ALTER TABLE candidates ADD COLUMN score REAL")
                db.execute("UPDATE candidates SET score = map WHERE map IS NOT NULL")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- meta and strategy state ----

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def strategy_state(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM strategy_state WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    # ---- candidates ----

    def add_candidate(
        self,
        *,
        genome_id: str,
        genome_json: str,
        yaml: str,
        origin: str,
        parents: tuple[str, ...],
        state: dict[str, Any],
        status: str = "pending",
        params: int | None = None,
        gflops: float | None = None,
        latency_ms: float | None = None,
        error: str | None = None,
    ) -> int:
        """Insert a proposed candidate and the strategy state that proposed it, in one transaction."""
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO candidates (genome_id, genome_json, yaml, origin, parents, status, params, gflops, "
                "latency_ms, error, proposed_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    genome_id,
                    genome_json,
                    yaml,
                    origin,
                    json.dumps(list(parents)),
                    status,
                    params,
                    gflops,
                    latency_ms,
                    error,
                    now,
                    now if status == "infeasible" else None,
                ),
            )
            for key, value in state.items():
                db.execute("INSERT OR REPLACE INTO strategy_state VALUES (?, ?)", (key, json.dumps(value)))
            return int(cursor.lastrowid)

    def mark_running(self, genome_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE candidates SET status = 'running', attempts = attempts + 1, started_at = ? WHERE genome_id = ?",
                (time.time(), genome_id),
            )

    def finish(
        self,
        genome_id: str,
        *,
        status: str,
        evaluation: dict[str, Any] | None,
        error: str | None = None,
        map: float | None = None,
        map50: float | None = None,
        latency_ms: float | None = None,
        params: int | None = None,
        gflops: float | None = None,
        weights: str | None = None,
        score: float | None = None,
    ) -> None:
        if status not in ("done", "failed"):
            raise ValueError(f"finish status must be done or failed, got {status!r}")
        with self.transaction() as db:
            order = db.execute("SELECT COALESCE(MAX(finish_order), 0) + 1 FROM candidates").fetchone()[0]
            db.execute(
                "UPDATE candidates SET status = ?, evaluation_json = ?, error = ?, map = ?, map50 = ?, score = ?, "
                "latency_ms = ?, params = COALESCE(?, params), gflops = COALESCE(?, gflops), weights = ?, "
                "finished_at = ?, finish_order = ? WHERE genome_id = ?",
                (
                    status,
                    json.dumps(evaluation) if evaluation is not None else None,
                    error,
                    map,
                    map50,
                    score,
                    latency_ms,
                    params,
                    gflops,
                    weights,
                    time.time(),
                    order,
                    genome_id,
                ),
            )

    def requeue_interrupted(self) -> list[str]:
        """Candidates left ``running`` by a killed process go back to ``pending``; returns their ids."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT genome_id FROM candidates WHERE status = 'running'")]
            db.execute("UPDATE candidates SET status = 'pending', started_at = NULL WHERE status = 'running'")
        return ids

    def candidates(self, *statuses: str) -> list[Candidate]:
        """Candidates in proposal order, optionally only those with the given statuses."""
        query = "SELECT * FROM candidates"
        if statuses:
            query += f" WHERE status IN ({', '.join('?' * len(statuses))})"
        rows = self._db.execute(query + " ORDER BY seq", statuses).fetchall()
        return [_candidate(r) for r in rows]

    def finished_in_order(self) -> list[Candidate]:
        """Done and failed candidates in the order they finished (the population ages in this order)."""
        rows = self._db.execute(
            "SELECT * FROM candidates WHERE status IN ('done', 'failed') ORDER BY finish_order"
        ).fetchall()
        return [_candidate(r) for r in rows]

    def get(self, genome_id: str) -> Candidate | None:
        row = self._db.execute("SELECT * FROM candidates WHERE genome_id = ?", (genome_id,)).fetchone()
        return _candidate(row) if row else None

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status").fetchall()
        return {status: 0 for status in STATUSES} | {r[0]: r[1] for r in rows}


def _candidate(row: sqlite3.Row) -> Candidate:
    data = dict(row)
    data["parents"] = tuple(json.loads(data["parents"]))
    return Candidate(**data)
