"""Accept telemetry: how many items were shown, accepted, cancelled; how long answers took.

Kept in memory only and exposed through `codegemma/stats`; nothing is
written to disk or sent anywhere. Every shown item gets an id, which its
`codegemma.accepted` command and the client's `codegemma/event`
notifications carry back, so an acceptance counts once and only for an item
this server produced. Events (`lsp.protocol.SuggestionEvent`) also count
partial accepts with the characters kept, dismissals and typed-over items;
each kind counts once per item, kept characters add up over partial accepts.
"""

from __future__ import annotations

import itertools
import statistics
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from lsp.protocol import SuggestionEvent, Stats

#: Recent answers the medians are computed over.
WINDOW = 256
#: Shown items remembered for acceptance.
REMEMBERED = 1024


@dataclass
class ShownItem:
    """What the server showed under one id (what `codegemma/event` hooks receive with the event)."""

    id: str
    text: str = ""
    uri: str = ""
    #: Event kinds already counted for this item ("accepted" also when the accept command ran).
    counted: set[str] = field(default_factory=set)


class Telemetry:
    def __init__(self) -> None:
        self.requests = 0
        self.shown = 0
        self.accepted = 0
        self.cancelled = 0
        self.running = 0
        self.stopped_early = 0
        self.partial = 0
        self.kept_chars = 0
        self.dismissed = 0
        self.typed_over = 0
        self.ignored_events = 0
        self._latency_ms: deque[float] = deque(maxlen=WINDOW)
        self._backend_ms: deque[float] = deque(maxlen=WINDOW)
        self._shown_ids: OrderedDict[str, ShownItem] = OrderedDict()
        self._ids = itertools.count(1)
        #: Model calls report from worker threads.
        self._lock = threading.Lock()

    def item_shown(self, text: str = "", uri: str = "") -> str:
        """Count a shown item and return the id its accept command carries."""
        self.shown += 1
        item_id = f"item-{next(self._ids)}"
        self._shown_ids[item_id] = ShownItem(item_id, text, uri)
        while len(self._shown_ids) > REMEMBERED:
            self._shown_ids.popitem(last=False)
        return item_id

    def item_accepted(self, item_id: str) -> bool:
        """Count an acceptance; False for ids never shown (or already counted)."""
        item = self._shown_ids.get(item_id)
        if item is None or "accepted" in item.counted:
            return False
        item.counted.add("accepted")
        self.accepted += 1
        return True

    def event(self, event: SuggestionEvent) -> ShownItem | None:
        """Count a client's report on a shown item; None (and counted as ignored) for an unknown id."""
        item = self._shown_ids.get(event.item)
        if item is None:
            self.ignored_events += 1
            return None
        if event.kind == "accepted":
            if self.item_accepted(event.item):
                self.kept_chars += len(event.accepted)
        elif event.kind == "partial":
            self.kept_chars += len(event.accepted)
            if "partial" not in item.counted:
                self.partial += 1
        elif event.kind not in item.counted:
            if event.kind == "dismissed":
                self.dismissed += 1
            else:
                self.typed_over += 1
        item.counted.add(event.kind)
        return item

    def ignored_event(self) -> None:
        """Count an event that could not be read."""
        self.ignored_events += 1

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
            partial=self.partial,
            kept_chars=self.kept_chars,
            dismissed=self.dismissed,
            typed_over=self.typed_over,
            ignored_events=self.ignored_events,
        )
