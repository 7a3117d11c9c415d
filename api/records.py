"""Decision records: what was decided, on which inputs, rules and layers, kept for later.

A decision under the commitment track is checked at random months later, and a
disputed filing is argued over its map. Each decision therefore carries a record —
the route and facts as given, the rules' identity and content hash, every layer's
version and content hash, the software version — and an id derived from all of them:
the same inputs on the same versions give the same id and the same decision.

Records are stored in SQLite by default and in PostgreSQL when the database URL says
so (`ROUTECHECK_DATABASE_URL=postgresql+psycopg://…`), through SQLAlchemy Core. A
stored record can be re-screened against the current rules and layers to see what
would be decided today.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from shapely.geometry import mapping, shape

from geo.decision import Decision
from geo.errors import RoutecheckError
from geo.route import Route, from_lines

log = logging.getLogger(__name__)

#: Environment variable naming the decision database.
DATABASE_ENV = "ROUTECHECK_DATABASE_URL"

_metadata = sa.MetaData()
DECISIONS = sa.Table(
    "decisions",
    _metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("district", sa.String(200), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("valid_until", sa.Date, nullable=True, index=True),
    sa.Column("track", sa.String(100), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
)


class RecordNotFound(RoutecheckError, LookupError):
    """No decision record has the id asked for."""

    code = "DECISION_NOT_FOUND"


@functools.lru_cache(maxsize=1)
def software_version() -> str:
    """The installed routecheck's version (read once: the metadata lookup costs ~1.5 ms)."""
    try:
        return metadata.version("routecheck")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_database_url() -> str:
    """The database named by ROUTECHECK_DATABASE_URL, else SQLite in the user data dir."""
    url = os.environ.get(DATABASE_ENV)
    if url:
        return url
    folder = Path(platformdirs.user_data_dir("routecheck"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'decisions.sqlite'}"


@dataclass(frozen=True)
class DecisionRecord:
    """A decision with everything needed to show it, and to make it again."""

    id: str
    created_at: dt.datetime
    inputs: dict[str, Any]
    basis: dict[str, Any]
    software: str
    decision: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "inputs": self.inputs,
            "basis": self.basis,
            "software": self.software,
            "decision": self.decision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionRecord:
        return cls(
            data["id"],
            dt.datetime.fromisoformat(data["created_at"]),
            data["inputs"],
            data["basis"],
            data["software"],
            data["decision"],
        )

    def route(self) -> Route:
        """The route as it was given, rebuilt from the record."""
        geometry = shape(self.inputs["route"])
        lines = list(getattr(geometry, "geoms", [geometry]))
        return from_lines(lines, self.inputs["crs"], self.inputs["properties"])


def route_inputs(
    route: Route, facts: dict[str, Any], datum: str, submitted: dt.datetime
) -> dict[str, Any]:
    """The inputs of a decision, as given: geometry in its own CRS, facts, datum, time.

    Returned as plain JSON values, so a record read back from the store equals it.
    """
    inputs = {
        "route": mapping(route.geometry),
        "crs": route.crs,
        "properties": route.properties,
        "facts": {k: v for k, v in facts.items() if v is not None},
        "datum": datum,
        "submitted": submitted.isoformat(),
    }
    return json.loads(json.dumps(inputs, ensure_ascii=False, default=str))


def decision_id(inputs: dict[str, Any], basis: dict[str, Any], software: str) -> str:
    """An id derived from the inputs, the rules and layers decided on, and the software."""
    canonical = json.dumps(
        {"inputs": inputs, "basis": basis, "software": software},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return "d-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def make_record(district, inputs: dict[str, Any], decision: Decision) -> DecisionRecord:
    """The record of a decision made on a district from these inputs."""
    basis = district.fingerprint
    software = software_version()
    identifier = decision_id(inputs, basis, software)
    body = decision.to_dict()
    body["district"] = {"id": district.id, "name": district.settings.name}
    return DecisionRecord(identifier, dt.datetime.now(dt.UTC), inputs, basis, software, body)


def decide_and_record(
    district,
    route: Route,
    *,
    facts: dict[str, Any] | None = None,
    datum: str = "wgs84",
    submitted: dt.datetime | None = None,
) -> tuple[Decision, DecisionRecord]:
    """Classify a route on a district and make its record (the one path CLI and API use)."""
    moment = submitted or dt.datetime.now(dt.UTC)
    facts = dict(facts or {})
    decision = district.classify(route, datum=datum, facts=facts, submitted=moment)
    return decision, make_record(district, route_inputs(route, facts, datum, moment), decision)


def _sqlite_for_concurrency(connection, _record) -> None:
    """Write-ahead logging, so readers never wait on a writer and commits stay cheap.

    A service saves a record per decision from many threads; in SQLite's default
    journal mode each of those commits waits for the disk and blocks every reader.
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _row(record: DecisionRecord) -> dict[str, Any]:
    """A record as a row of the decisions table."""
    valid = record.decision.get("valid_until")
    return {
        "id": record.id,
        "district": record.basis["district"],
        "created_at": record.created_at,
        "valid_until": dt.date.fromisoformat(valid) if valid else None,
        "track": record.decision["track"]["code"],
        "record": json.dumps(record.to_dict(), ensure_ascii=False),
    }


class RecordStore:
    """Decision records in SQLite or PostgreSQL.

    Records are written by one writer thread that commits whatever has queued up in a
    single transaction (group commit): a service deciding for many clients at once pays
    one commit per batch, not per decision, and its screening threads never wait on the
    database. `save` still returns only once its record is committed.
    """

    #: Most records one transaction writes.
    BATCH = 500

    def __init__(self, url: str | None = None):
        self.url = url or default_database_url()
        self.engine = sa.create_engine(self.url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_for_concurrency)
        _metadata.create_all(self.engine)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start = threading.Lock()

    def save(self, record: DecisionRecord) -> bool:
        """Store a record; False when one with the same id was already kept (it stays)."""
        return self.submit(record).result()

    def submit(self, record: DecisionRecord) -> Future[bool]:
        """Queue a record for the writer; the future says, once it is committed, whether
        it was new (False: a record with its id was already kept, and stays).

        The record is made into its row here, so a record that cannot be stored fails
        its own caller at once and never the batch it would have been written with.
        """
        row = _row(record)
        done: Future[bool] = Future()
        with self._start:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_queued, daemon=True,
                                                name="routecheck-records")  # fmt: skip
                self._writer.start()
            self._queue.put((row, done))
        return done

    def _write_queued(self) -> None:
        """The writer thread: take what has queued up, commit it, tell each caller."""
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write_batch(batch)

    def _write_batch(self, batch: list[tuple[dict[str, Any], Future[bool]]]) -> None:
        """Commit a batch in one transaction; if that fails, each row alone, so that a row
        the database refuses fails only its own caller."""
        try:
            kept = self._insert([row for row, _ in batch])
        except Exception as exc:  # a duplicate from elsewhere, or a refused row: whose?
            if len(batch) > 1:
                for one in batch:
                    self._write_batch([one])
                return
            log.exception("storing decision record %s failed", batch[0][0]["id"])
            batch[0][1].set_exception(exc)
            return
        for (_, done), new in zip(batch, kept, strict=True):
            done.set_result(new)

    def _insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Insert the rows not yet kept, in one transaction; which of them were new."""
        ids = [row["id"] for row in rows]
        try:
            with self.engine.begin() as connection:
                found = connection.execute(
                    sa.select(DECISIONS.c.id).where(DECISIONS.c.id.in_(set(ids)))
                ).scalars()
                seen = set(found)
                kept = []
                for identifier in ids:
                    kept.append(identifier not in seen)
                    seen.add(identifier)
                new_rows = [row for row, new in zip(rows, kept, strict=True) if new]
                if new_rows:
                    connection.execute(DECISIONS.insert(), new_rows)
        except sa.exc.IntegrityError:
            # another process saved the row between our look and the insert, or the row
            # was refused; a batch is split by the writer, one row is told apart here
            if len(rows) == 1 and self._kept(rows[0]["id"]):
                return [False]
            raise
        for row, new in zip(rows, kept, strict=True):
            if new:
                log.info("stored decision %s (%s)", row["id"], row["track"])
        return kept

    def _kept(self, identifier: str) -> bool:
        with self.engine.connect() as connection:
            query = sa.select(DECISIONS.c.id).where(DECISIONS.c.id == identifier)
            return connection.execute(query).first() is not None

    def get(self, identifier: str) -> DecisionRecord:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(DECISIONS.c.record).where(DECISIONS.c.id == identifier)
            ).first()
        if row is None:
            raise RecordNotFound(f"no decision {identifier!r} is stored", where="id")
        return DecisionRecord.from_dict(json.loads(row.record))

    def list(
        self,
        district: str | None = None,
        stale_on: dt.date | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DecisionRecord]:
        """Stored records, oldest first; with `stale_on`, only those no longer valid then.

        `limit` and `offset` page through them (the HTTP listing and re-screening do).
        """
        query = sa.select(DECISIONS.c.record).order_by(DECISIONS.c.created_at, DECISIONS.c.id)
        query = query.limit(limit).offset(offset)
        if district is not None:
            query = query.where(DECISIONS.c.district == district)
        if stale_on is not None:
            query = query.where(DECISIONS.c.valid_until < stale_on)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [DecisionRecord.from_dict(json.loads(row.record)) for row in rows]


@dataclass(frozen=True)
class Change:
    """How a stored decision would differ if it were made today."""

    id: str
    track: tuple[str, str]
    reasons: dict[str, list[str]]
    bureaus: dict[str, list[str]]
    basis: dict[str, list[str]]

    @property
    def changed(self) -> bool:
        return (
            self.track[0] != self.track[1]
            or any(self.reasons.values())
            or any(self.bureaus.values())
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "track": {"was": self.track[0], "now": self.track[1]},
            "reasons": self.reasons,
            "bureaus": self.bureaus,
            "basis": self.basis,
        }


def rescreen(record: DecisionRecord, district) -> Change:
    """Re-run a stored decision on the district's current rules and layers."""
    inputs = record.inputs
    submitted = dt.datetime.fromisoformat(inputs["submitted"])
    now = district.classify(
        record.route(), datum=inputs["datum"], facts=inputs["facts"], submitted=submitted
    ).to_dict()
    was = record.decision
    return Change(
        record.id,
        (was["track"]["code"], now["track"]["code"]),
        _difference(_reasons(was), _reasons(now)),
        _difference(_bureaus(was), _bureaus(now)),
        _basis_changes(record.basis, district.fingerprint),
    )


def _reasons(decision: dict[str, Any]) -> set[str]:
    return {
        f"{r['rule']} ({r['effect']}: {', '.join(r['feature_ids']) or 'facts'})"
        for r in decision["reasons"]
    }


def _bureaus(decision: dict[str, Any]) -> set[str]:
    return {
        f"{b['code']} {b['role']}: {item['id']}" for b in decision["bureaus"] for item in b["items"]
    }


def _difference(was: set[str], now: set[str]) -> dict[str, list[str]]:
    return {"removed": sorted(was - now), "added": sorted(now - was)}


def _basis_changes(was: dict[str, Any], now: dict[str, Any]) -> dict[str, list[str]]:
    changed = []
    if was["rules"]["sha256"] != now["rules"]["sha256"]:
        changed.append(f"rules {was['rules']['version']} → {now['rules']['version']}")
    for name, layer in now["layers"].items():
        before = was["layers"].get(name)
        if before is None or before["sha256"] != layer["sha256"]:
            changed.append(f"layer {name}")
    return {"changed": changed}
