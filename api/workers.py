"""The threads that screen and decide routes for the HTTP service.

Screening and deciding are CPU work, under the GIL for most of their time, so running
them on more threads than there are cores makes them no faster, only slower: pyproj
keeps a transformer's PROJ object per thread, so each new thread builds its own copy
(about 0.1 s for a Gauss-Krüger CRS) the first time it moves a route, and Starlette's
default pool of 40 threads contends for the GIL and for the record store. A small
pool of its own keeps that work on a few warm threads, and leaves Starlette's pool to
the endpoints that wait on files or the network.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class ScreeningPool:
    """A fixed number of threads that run screening work for the event loop."""

    def __init__(self, threads: int):
        if threads < 1:
            raise ValueError(f"a screening pool needs at least one thread, got {threads}")
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(*args)` on one of the pool's threads and wait for it, without
        blocking the event loop (the caller's context variables go along)."""
        if self._executor is None:  # first use, or first use after a close
            self._executor = ThreadPoolExecutor(self.threads, "routecheck-screening")
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, work, *args)
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Finish the work in hand and stop the threads; queued work is dropped.

        A later `run` starts new threads, so an app whose lifespan runs twice (tests
        do that) keeps working."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        executor.shutdown(wait=True, cancel_futures=True)
        log.debug("screening pool of %d threads stopped", self.threads)
