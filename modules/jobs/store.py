"""The durable job store: one SQLite database (WAL) in the data dir holding every job, its state, attempts, error
and result. Every change is one transaction, so a process killed at any moment leaves each job in one state."""

import dataclasses
import json
import sqlite3
import threading
import time

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = \
    "queued", "running", "succeeded", "failed", "cancelled", "interrupted"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    fingerprint TEXT NOT NULL,
    batch_id TEXT,
    spec TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    error TEXT,
    result TEXT,
    saved_files TEXT,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    checkpoint TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, priority DESC, seq);
CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs(finished_at);
CREATE INDEX IF NOT EXISTS jobs_by_batch ON jobs(batch_id, seq);
"""

COLUMNS = "seq, id, type, state, priority, idempotency_key, batch_id, attempts, max_attempts, error, saved_files, " \
          "submitted_at, started_at, finished_at"
ORDER_OF_QUEUE = "priority DESC, seq"


@dataclasses.dataclass(frozen=True)
class JobRecord:
    seq: int
    id: str
    type: str
    state: str
    priority: int
    idempotency_key: str | None
    batch_id: str | None
    attempts: int
    max_attempts: int
    error: dict | None
    saved_files: list[str] | None
    """The files the finished generation saved (its images, grid, text files)."""
    submitted_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row) -> "JobRecord":
        values = list(row)
        values[9] = json.loads(values[9]) if values[9] else None
        values[10] = json.loads(values[10]) if values[10] else None
        return cls(*values)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class DuplicateJobId(ValueError):
    pass


BUSY_TIMEOUT = 30.0


def _while_locked(statement, patience: float = BUSY_TIMEOUT):
    """Runs statement again while another connection holds the lock it needs: switching to WAL (and so creating the
    schema beside a connection doing that) can meet "database is locked" without SQLite's busy wait."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class JobStore:
    def __init__(self, path: str, clock=time.time):
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT)
        _while_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._db.execute("PRAGMA synchronous=NORMAL")
        _while_locked(lambda: self._db.executescript(SCHEMA))
        self._add_checkpoint_column()

    def _add_checkpoint_column(self):
        """A database from before checkpoint-aware claims gets the column, filled from its jobs' specs (another
        process opening it at once waits, then finds it there)."""
        with self._transaction():
            if "checkpoint" in {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}:
                return
            self._db.execute("ALTER TABLE jobs ADD COLUMN checkpoint TEXT")
            named = "json_extract(spec, '$.params.override_settings.sd_model_checkpoint')"
            self._db.execute(f"UPDATE jobs SET checkpoint = {named} WHERE json_valid(spec) "
                             f"AND json_type(spec, '$.params.override_settings.sd_model_checkpoint') = 'text' "
                             f"AND {named} != ''")

    def close(self):
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args=()) -> JobRecord | None:
        row = self._db.execute(sql, args).fetchone()
        return JobRecord.from_row(row) if row else None

    def _transaction(self):
        return _Transaction(self._db, self._lock)

    def add(self, job_id: str, job_type: str, spec_json: str, fingerprint: str, priority: int, max_attempts: int,
            idempotency_key: str | None = None, batch_id: str | None = None,
            checkpoint: str | None = None) -> tuple[JobRecord, bool]:
        """Queues a job; (the job, True). With an idempotency key already used: (that job, False). DuplicateJobId
        while a job of that id is queued or running. checkpoint: the one its request names (None: the selected)."""
        with self._transaction():
            if idempotency_key is not None:
                existing = self._one(f"SELECT {COLUMNS} FROM jobs WHERE idempotency_key = ?", (idempotency_key,))
                if existing is not None:
                    return existing, False
            marks = ", ".join("?" * len(FINISHED))
            # an id given again (A1111's force_task_id) takes the place of a finished job of that id
            self._db.execute(f"DELETE FROM jobs WHERE id = ? AND state IN ({marks})", (job_id, *FINISHED))
            try:
                self._db.execute(
                    "INSERT INTO jobs (id, type, state, priority, idempotency_key, fingerprint, batch_id, spec, "
                    "max_attempts, submitted_at, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, job_type, QUEUED, priority, idempotency_key, fingerprint, batch_id, spec_json,
                     max_attempts, self.clock(), checkpoint))
            except sqlite3.IntegrityError as e:
                raise DuplicateJobId(job_id) from e
            return self._one(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)), True

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._one(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,))

    def fingerprint(self, job_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT fingerprint FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def spec(self, job_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def result(self, job_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT result FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def claim_next(self) -> JobRecord | None:
        """The first queued job (highest priority, then earliest), now running with one more attempt."""
        with self._transaction():
            return self._one(
                f"UPDATE jobs SET state = ?, attempts = attempts + 1, started_at = ?, error = NULL "
                f"WHERE seq = (SELECT seq FROM jobs WHERE state = ? ORDER BY {ORDER_OF_QUEUE} LIMIT 1) "
                f"RETURNING {COLUMNS}", (RUNNING, self.clock(), QUEUED))

    def queued_head(self, limit: int) -> list[tuple[JobRecord, str | None]]:
        """The first `limit` queued jobs in queue order, each with the checkpoint its request names."""
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS}, checkpoint FROM jobs WHERE state = ? "
                                    f"ORDER BY {ORDER_OF_QUEUE} LIMIT ?", (QUEUED, limit)).fetchall()
        return [(JobRecord.from_row(row[:-1]), row[-1]) for row in rows]

    def claim(self, job_id: str) -> JobRecord | None:
        """The queued job job_id, now running with one more attempt; None when it is not queued (any more)."""
        with self._transaction():
            return self._one(f"UPDATE jobs SET state = ?, attempts = attempts + 1, started_at = ?, error = NULL "
                             f"WHERE id = ? AND state = ? RETURNING {COLUMNS}", (RUNNING, self.clock(), job_id, QUEUED))

    def unclaim(self, job_id: str) -> JobRecord | None:
        """A running job that never reached its worker: queued again, the attempt not counted; None when it was not
        running."""
        with self._transaction():
            return self._one(f"UPDATE jobs SET state = ?, attempts = attempts - 1, started_at = NULL WHERE id = ? "
                             f"AND state = ? RETURNING {COLUMNS}", (QUEUED, job_id, RUNNING))

    def interrupt(self, job_id: str, reason: str) -> JobRecord | None:
        """A running job whose worker died: queued again while it has attempts left, else failed; None when it was
        not running."""
        error = json.dumps({"status": 500, "message": f"interrupted: {reason}, and it has no attempts left"})
        with self._transaction():
            job = self._one(f"UPDATE jobs SET state = ?, started_at = NULL WHERE id = ? AND state = ? "
                            f"AND attempts < max_attempts RETURNING {COLUMNS}", (QUEUED, job_id, RUNNING))
            if job is None:
                job = self._one(f"UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = ? "
                                f"RETURNING {COLUMNS}", (FAILED, error, self.clock(), job_id, RUNNING))
            return job

    def finish(self, job_id: str, state: str, result: dict | None = None, error: dict | None = None) -> JobRecord:
        with self._transaction():
            return self._one(
                f"UPDATE jobs SET state = ?, result = ?, saved_files = ?, error = ?, finished_at = ? "
                f"WHERE id = ? AND state = ? RETURNING {COLUMNS}",
                (state, json.dumps(result) if result is not None else None,
                 json.dumps(result.get("saved_files", [])) if result is not None else None,
                 json.dumps(error) if error is not None else None, self.clock(), job_id, RUNNING))

    def cancel_queued(self, job_id: str) -> JobRecord | None:
        """The job cancelled, or None when it was not queued (any more)."""
        with self._transaction():
            return self._one(f"UPDATE jobs SET state = ?, finished_at = ? WHERE id = ? AND state = ? "
                             f"RETURNING {COLUMNS}", (CANCELLED, self.clock(), job_id, QUEUED))

    def set_priority(self, job_id: str, priority: int) -> JobRecord | None:
        with self._transaction():
            return self._one(f"UPDATE jobs SET priority = ? WHERE id = ? AND state = ? RETURNING {COLUMNS}",
                             (priority, job_id, QUEUED))

    def requeue(self, job_id: str, from_states=FINISHED + (INTERRUPTED,), extra_attempts: int = 0) -> JobRecord | None:
        """The job queued again (its result and error cleared), or None when it was in none of from_states."""
        marks = ", ".join("?" * len(from_states))
        with self._transaction():
            return self._one(
                f"UPDATE jobs SET state = ?, result = NULL, saved_files = NULL, error = NULL, started_at = NULL, "
                f"finished_at = NULL, "
                f"max_attempts = max_attempts + ? WHERE id = ? AND state IN ({marks}) RETURNING {COLUMNS}",
                (QUEUED, extra_attempts, job_id, *from_states))

    def recover_interrupted(self) -> tuple[list[JobRecord], list[JobRecord]]:
        """At start: jobs left running by a process that died become interrupted, then are queued again while they
        have attempts left, else failed. Returns (queued again, failed)."""
        with self._transaction():
            self._db.execute("UPDATE jobs SET state = ? WHERE state = ?", (INTERRUPTED, RUNNING))
            requeued = [JobRecord.from_row(row) for row in self._db.execute(
                f"UPDATE jobs SET state = ?, started_at = NULL WHERE state = ? AND attempts < max_attempts "
                f"RETURNING {COLUMNS}", (QUEUED, INTERRUPTED))]
            error = json.dumps({"status": 500, "message": "interrupted: the server stopped while it ran, and it has "
                                                          "no attempts left"})
            failed = [JobRecord.from_row(row) for row in self._db.execute(
                f"UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE state = ? RETURNING {COLUMNS}",
                (FAILED, error, self.clock(), INTERRUPTED))]
        return requeued, failed

    def position(self, job: JobRecord) -> int | None:
        """1 for the next job to run; None when the job is not queued."""
        if job.state != QUEUED:
            return None
        with self._lock:
            ahead = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = ? AND (priority > ? OR (priority = ? AND seq < ?))",
                (QUEUED, job.priority, job.priority, job.seq)).fetchone()[0]
        return ahead + 1

    def count(self, state: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0]

    def ids(self, state: str) -> list[str]:
        """The ids of the jobs in `state`, queued ones in the order they will run."""
        with self._lock:
            return [row[0] for row in self._db.execute(
                f"SELECT id FROM jobs WHERE state = ? ORDER BY {ORDER_OF_QUEUE}", (state,))]

    def queued_positions(self) -> dict[str, int]:
        """Every queued job's place in line (1 = next)."""
        return {job_id: index for index, job_id in enumerate(self.ids(QUEUED), start=1)}

    def page(self, state: str | None = None, batch_id: str | None = None, limit: int = 50,
             before_seq: int | None = None) -> list[JobRecord]:
        """Newest first; before_seq continues after the last job of a previous page."""
        where, args = [], []
        if state is not None:
            where.append("state = ?")
            args.append(state)
        if batch_id is not None:
            where.append("batch_id = ?")
            args.append(batch_id)
        if before_seq is not None:
            where.append("seq < ?")
            args.append(before_seq)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            return [JobRecord.from_row(row) for row in self._db.execute(
                f"SELECT {COLUMNS} FROM jobs {clause} ORDER BY seq DESC LIMIT ?", (*args, limit))]

    def prune(self, finished_before: float) -> int:
        """Deletes finished jobs that finished before the given time; returns how many."""
        marks = ", ".join("?" * len(FINISHED))
        with self._transaction():
            return self._db.execute(f"DELETE FROM jobs WHERE finished_at < ? AND state IN ({marks})",
                                    (finished_before, *FINISHED)).rowcount


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception) under the store's lock."""

    def __init__(self, db, lock):
        self.db, self.lock = db, lock

    def __enter__(self):
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
