"""Accept telemetry: how many items were shown, accepted, cancelled; how long answers took.

Kept in memory only and exposed through `codegemma/stats`; nothing is
written to disk or sent anywhere. Every shown item gets an id, which its
`codegemma.accepted` command carries back, so an acceptance counts once and
only for an item this server produced.
"""

from __future__ import annotations

import itertools
import statistics
import threading
from collections import OrderedDict, deque

from lsp.protocol import Stats

#: Recent answers the medians are computed over.
WINDOW = 256
#: Shown items remembered for acceptance.
REMEMBERED = 1024


class Telemetry:
    def __init__(self) -> None:
        self.requests = 0
        self.shown = 0
        self.accepted = 0
        self.cancelled = 0
        self.running = 0
        self.stopped_early = 0
        self._latency_ms: deque[float] = deque(maxlen=WINDOW)
        self._backend_ms: deque[float] = deque(maxlen=WINDOW)
        self._shown_ids: OrderedDict[str, bool] = OrderedDict()
        self._ids = itertools.count(1)
        #: Model calls report from worker threads.
        self._lock = threading.Lock()

    def item_shown(self) -> str:
        """Count a shown item and return the id its accept command carries."""
        self.shown += 1
        item_id = f"item-{next(self._ids)}"
        self._shown_ids[item_id] = False
        while len(self._shown_ids) > REMEMBERED:
            self._shown_ids.popitem(last=False)
        return item_id

    def item_accepted(self, item_id: str) -> bool:
        """Count an acceptance; False for ids never shown (or already counted)."""
        if self._shown_ids.get(item_id) is not False:
            return False
        self._shown_ids[item_id] = True
        self.accepted += 1
        return True

    def answered(self, latency_ms: float) -> None:
        self._latency_ms.append(latency_ms)

    def call_started(self) -> None:
        with self._lock:
            self.running += 1

    def call_finished(self, duration_ms: float, *, stopped_early: bool) -> None:
        """A model call ended; `stopped_early` when it stopped generating because it was cancelled."""
        with self._lock:
            self.running -= 1
            self._backend_ms.append(duration_ms)
            if stopped_early:
                self.stopped_early += 1

    def snapshot(self) -> Stats:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> Stats:
        return Stats(
            shown=self.shown,
            accepted=self.accepted,
            requests=self.requests,
            cancelled=self.cancelled,
            median_latency_ms=round(statistics.median(self._latency_ms), 1) if self._latency_ms else 0.0,
            running=self.running,
            stopped_early=self.stopped_early,
            median_backend_ms=round(statistics.median(self._backend_ms), 1) if self._backend_ms else 0.0,
        )
