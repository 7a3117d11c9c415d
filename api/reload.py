"""Hot reload: load a district whole beside the one serving, then swap them in one step.

A reload builds a complete new `Service` — district settings, rules, every layer, the
OGC API collections, the fingerprint and its version — while requests keep being
answered on the old one. Only when all of it has loaded is the app's reference
replaced; any failure on the way (bad rules, a missing store, a layer in the wrong CRS)
refuses the update whole and the old version keeps serving. Reloads come from the admin
call (`api.admin`) or from `Watcher`, which polls the district's files.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from starlette.datastructures import State

from api import features
from api.problems import ReloadRefused
from api.records import RecordStore
from api.settings import Settings
from api.state import Service, district_version
from geo.errors import RoutecheckError
from layers.district import District, load_district, sample_district_path

log = logging.getLogger("routecheck.api")


def load_service(settings: Settings, path: Path | str | None, records: RecordStore) -> Service:
    """Load a district folder into a complete service (the bundled sample when no path)."""
    district = load_district(path)
    collections = features.load_collections(district)
    # the version hashes every layer: done here, before the service answers anything
    return Service(settings, district, collections, records, district_version(district))


def district_files(district: District) -> list[Path]:
    """The files a district is loaded from: what a change on disk must reload."""
    root, settings = district.root, district.settings
    files = [root / "district.toml", root / settings.rules]
    files += [root / schedule for schedule in settings.holiday_schedules]
    if settings.store is not None:
        files.append(root / settings.store)
    return files


def files_signature(files: list[Path]) -> tuple[tuple[str, int | None, int | None], ...]:
    """Modification time and size of each file (None for one that is missing)."""
    signature = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            signature.append((str(path), None, None))
        else:
            signature.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


class Reloader:
    """Replaces the app's service with a freshly loaded one, one reload at a time."""

    def __init__(self, state: State, path: Path | str | None):
        self._state = state
        self._lock = threading.Lock()
        self.path = Path(path) if path is not None else sample_district_path()
        self.signature = files_signature(district_files(state.service.district))

    def reload(self, path: Path | str | None = None) -> tuple[Service, Service]:
        """Load the district at `path` (default: the one serving) and swap it in.

        Returns the old and the new service. Raises ReloadRefused, naming what was
        wrong, when the district does not load; the old service then stays.
        """
        with self._lock:
            old: Service = self._state.service
            target = Path(path) if path is not None else self.path
            start = time.perf_counter()
            # the files as they were before reading them: one changed while loading is
            # then seen as a change by the watcher and loaded again
            before = files_signature(district_files(old.district))
            try:
                new = load_service(old.settings, target, old.records)
            except RoutecheckError as exc:
                log.warning("reload of %s refused, %s keeps serving: %s", target, old.version, exc)
                raise ReloadRefused(
                    f"{target} does not load, so {old.version} keeps serving: [{exc.code}] {exc}",
                    where=exc.where,
                ) from exc
            except Exception as exc:
                # whatever breaks in a load (an unreadable store, say) refuses the update
                log.exception("reload of %s refused, %s keeps serving", target, old.version)
                raise ReloadRefused(
                    f"{target} does not load, so {old.version} keeps serving: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            files = district_files(new.district)
            same = files == district_files(old.district)
            self.signature = before if same else files_signature(files)
            # one assignment: requests that start from now on take the new service
            self._state.service = new
            self.path = target
        log.info(
            "reloaded district %s from %s in %.1f s: %s → %s",
            new.district.id,
            target,
            time.perf_counter() - start,
            old.version,
            new.version,
        )
        return old, new


class Watcher:
    """Polls the serving district's files and reloads once a change has settled.

    A change is acted on when two looks in a row see the same new state, so a file
    still being written is not loaded half-way. A refused update is not tried again
    until the files change once more.
    """

    def __init__(self, reloader: Reloader, state: State, interval_s: float):
        self.reloader = reloader
        self.state = state
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="routecheck-watch", daemon=True)

    def start(self) -> None:
        log.info("watching the district's files every %.1f s", self.interval_s)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        pending = refused = None
        while not self._stop.wait(self.interval_s):
            seen = files_signature(district_files(self.state.service.district))
            if seen in (self.reloader.signature, refused):
                pending = None
            elif seen != pending:
                pending = seen
            else:
                pending = None
                try:
                    self.reloader.reload()
                except ReloadRefused:
                    refused = seen  # logged by the reloader
