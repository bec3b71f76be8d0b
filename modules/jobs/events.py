"""Job events (job.queued|started|progress|preview|succeeded|failed|cancelled|retrying) to whoever listens: each
listener gets its own bounded queue; the last events are kept so that a listener to one job sees it from the start."""

import collections
import dataclasses
import itertools
import queue
import threading
import time

EVENT_TYPES = ("job.queued", "job.started", "job.progress", "job.preview", "job.succeeded", "job.failed",
               "job.cancelled", "job.retrying")
TERMINAL = ("job.succeeded", "job.failed", "job.cancelled")
KEPT_EVENTS = 4096
LISTENER_BACKLOG = 1024


@dataclasses.dataclass(frozen=True)
class JobEvent:
    seq: int
    type: str
    job: str
    data: dict
    time: float

    def as_dict(self) -> dict:
        return {"seq": self.seq, "type": self.type, "job": self.job, "time": self.time, **self.data}


def latest_run(events: list[JobEvent]) -> list[JobEvent]:
    """One job's events from the start of its latest run: after a retry, not the earlier run's end."""
    ends = [index for index, event in enumerate(events) if event.type in TERMINAL]
    if ends and ends[-1] < len(events) - 1:
        return events[ends[-1] + 1:]
    return events[ends[-2] + 1:] if len(ends) > 1 else events


class Listener:
    def __init__(self, bus: "EventBus", job: str | None):
        self.bus, self.job = bus, job
        self.events: queue.Queue[JobEvent] = queue.Queue(maxsize=LISTENER_BACKLOG)
        self.overflowed = False

    def offer(self, event: JobEvent):
        if self.job is not None and event.job != self.job:
            return
        try:
            self.events.put_nowait(event)
        except queue.Full:
            self.overflowed = True

    def next(self, timeout: float) -> JobEvent | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        self.bus.unsubscribe(self)


class EventBus:
    def __init__(self, clock=time.time):
        self.clock = clock
        self._counter = itertools.count(1)
        self._recent: collections.deque[JobEvent] = collections.deque(maxlen=KEPT_EVENTS)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def publish(self, event_type: str, job: str, **data) -> JobEvent:
        with self._lock:  # offering never blocks: every listener gets the events in their order
            event = JobEvent(next(self._counter), event_type, job, data, self.clock())
            self._recent.append(event)
            for listener in self._listeners:
                listener.offer(event)
        return event

    def subscribe(self, job: str | None = None, after_seq: int | None = None) -> Listener:
        """A listener for every job's events (job None) or one job's; it first gets the kept events of that job (or,
        with after_seq, the kept events after that one: a reconnecting client's Last-Event-ID)."""
        listener = Listener(self, job)
        with self._lock:
            kept = [event for event in self._recent if after_seq is None or event.seq > after_seq]
            if job is not None and after_seq is None:
                kept = latest_run([event for event in kept if event.job == job])
            if job is not None or after_seq is not None:
                for event in kept:
                    listener.offer(event)
            self._listeners.append(listener)
        return listener

    def unsubscribe(self, listener: Listener):
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)
