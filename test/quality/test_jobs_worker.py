"""The local worker on the tiny real model: a job cancelled while it waits for the generation lock stops at once;
a failure to record a job's end wakes its waiter and the worker goes on; a waiter's id cannot be taken over; a
retried job's event stream starts at its latest run; a cancel meant for an earlier run does not cancel a retry."""

import threading

import pytest

from modules.jobs import events as job_events
from modules.jobs.queue import JobConflict
from modules.jobs.spec import GenerationSpec
from test.api_client import service_with_workers

TINY = {"prompt": "a red circle", "seed": 3, "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler",
        "send_images": False}


def spec(**params) -> GenerationSpec:
    return GenerationSpec(mode="txt2img", params={**TINY, **params})


@pytest.fixture
def locked_service(sd_model):
    lock = threading.Lock()
    service = service_with_workers(1, lock)
    yield service, lock
    service.stop()


def test_a_job_cancelled_while_waiting_for_the_generation_lock_stops_without_generating(locked_service):
    service, lock = locked_service
    jobs = service.queue
    with lock:
        job, _ = jobs.submit(spec(steps=50, send_images=True), wait=True)
        while jobs.get(job.id).state != "running":
            threading.Event().wait(0.01)
        jobs.cancel(job.id)
    outcome = jobs.wait(job.id, timeout=60)
    assert outcome.record.state == "cancelled"
    assert outcome.value["images"] == [], "interrupted before its first image"


def test_a_failure_to_record_the_end_wakes_the_waiter_and_the_worker_goes_on(locked_service, monkeypatch):
    service, _ = locked_service
    jobs = service.queue
    real_finish = jobs.store.finish
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 1:
            raise OSError("disk full")
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(jobs.store, "finish", failing_once)
    first, _ = jobs.submit(spec(), wait=True)
    assert isinstance(jobs.wait(first.id, timeout=60).error, OSError)
    second, _ = jobs.submit(spec(seed=4), wait=True)
    assert jobs.wait(second.id, timeout=60).record.state == "succeeded"


def test_a_waited_for_id_cannot_be_taken_over(locked_service):
    service, lock = locked_service
    jobs = service.queue
    with lock:
        first, _ = jobs.submit(spec(), job_id="task(shared)", wait=True)
        with pytest.raises(JobConflict, match="task\\(shared\\)"):
            jobs.submit(spec(seed=9), job_id="task(shared)", wait=True)
    while not jobs.get("task(shared)").finished:
        threading.Event().wait(0.01)
    # finished, but its waiter has not collected the outcome yet: the id is still taken
    with pytest.raises(JobConflict, match="still being waited for"):
        jobs.submit(spec(seed=9), job_id="task(shared)", wait=True)
    outcome = jobs.wait(first.id, timeout=60)
    assert outcome.record.state == "succeeded" and "Seed: 3," in outcome.value["infotexts"][0]


def test_a_cancel_meant_for_an_earlier_run_does_not_cancel_the_retry(locked_service):
    service, _ = locked_service
    jobs = service.queue
    job, _ = jobs.submit(spec(), wait=True)
    jobs.wait(job.id, timeout=60)
    with jobs._lock:
        jobs._cancel_requested.add(job.id)  # as a cancel that read "running" just before the job ended
    with jobs.store._transaction():  # failed, so that it can be retried
        jobs.store._db.execute("UPDATE jobs SET state = 'failed' WHERE id = ?", (job.id,))
    again = jobs.retry(job.id)
    assert again.state == "queued"
    deadline = threading.Event()
    while jobs.get(job.id).state in ("queued", "running") and not deadline.wait(0.05):
        pass
    assert jobs.get(job.id).state == "succeeded"


def test_the_event_replay_of_a_retried_job_starts_at_its_latest_run():
    bus = job_events.EventBus()
    for event_type in ("job.queued", "job.cancelled", "job.retrying", "job.queued"):
        bus.publish(event_type, "task(r)")
    listener = bus.subscribe(job="task(r)")
    assert [listener.next(0).type for _ in range(2)] == ["job.retrying", "job.queued"]
    assert listener.next(0) is None
    bus.publish("job.started", "task(r)")
    bus.publish("job.succeeded", "task(r)")
    late = bus.subscribe(job="task(r)")
    seen = []
    while (event := late.next(0)) is not None:
        seen.append(event.type)
    assert seen == ["job.retrying", "job.queued", "job.started", "job.succeeded"]
