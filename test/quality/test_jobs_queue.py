"""The job store and queue without a model: order, positions, idempotency, cancel, priority, retry, pause, recovery
after a dead process, retention, history pages, events."""

import threading

import pytest

from modules.jobs import store as job_store
from modules.jobs.events import EventBus
from modules.jobs.queue import JobConflict, JobNotFound, JobQueue, QueueError
from modules.jobs.spec import GenerationSpec


def spec(prompt: str = "a red circle", **params) -> GenerationSpec:
    return GenerationSpec(mode="txt2img", params={"prompt": prompt, **params})


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    opened = job_store.JobStore(str(tmp_path / "jobs.sqlite3"), clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def jobs(store):
    return JobQueue(store, EventBus())


def claim(jobs: JobQueue):
    return jobs.claim(threading.Event(), timeout=0)


def test_jobs_run_by_priority_then_submit_order(jobs):
    low, _ = jobs.submit(spec("low"), priority=-5)
    first, _ = jobs.submit(spec("first"))
    high, _ = jobs.submit(spec("high"), priority=10)
    second, _ = jobs.submit(spec("second"))
    assert [jobs.position(jobs.get(j.id)) for j in (high, first, second, low)] == [1, 2, 3, 4]
    assert [claim(jobs).id for _ in range(4)] == [high.id, first.id, second.id, low.id]
    assert claim(jobs) is None


def test_a_claimed_job_is_running_with_one_attempt_and_has_no_position(jobs):
    job, created = jobs.submit(spec())
    assert created and job.state == "queued" and job.attempts == 0
    running = claim(jobs)
    assert (running.id, running.state, running.attempts) == (job.id, "running", 1)
    assert jobs.position(running) is None


def test_the_same_idempotency_key_gives_the_same_job(jobs, store):
    first, created_first = jobs.submit(spec(), idempotency_key="k1")
    again, created_again = jobs.submit(spec(), idempotency_key="k1")
    assert (created_first, created_again) == (True, False)
    assert again.id == first.id
    assert store.count("queued") == 1


def test_an_idempotency_key_reused_for_another_request_is_a_conflict(jobs):
    jobs.submit(spec("one"), idempotency_key="k1")
    with pytest.raises(JobConflict, match="idempotency_key"):
        jobs.submit(spec("two"), idempotency_key="k1")


def test_a_job_id_of_a_queued_job_is_a_conflict_and_of_a_finished_one_takes_its_place(jobs, store):
    jobs.submit(spec("first"), job_id="task(mine)")
    with pytest.raises(JobConflict, match="task\\(mine\\)"):
        jobs.submit(spec(), job_id="task(mine)")
    claim(jobs)
    jobs.finish("task(mine)", result={"images": ["old"]})
    again, created = jobs.submit(spec("second"), job_id="task(mine)")
    assert created and again.state == "queued" and store.result("task(mine)") is None
    assert '"second"' in store.spec("task(mine)")


def test_cancelling_a_queued_job_leaves_the_running_one(jobs):
    interrupted = []
    jobs.interrupt_running = interrupted.append
    running, _ = jobs.submit(spec("runs"))
    queued, _ = jobs.submit(spec("waits"))
    claim(jobs)
    assert jobs.cancel(queued.id).state == "cancelled"
    assert interrupted == []
    assert jobs.get(running.id).state == "running"
    assert claim(jobs) is None


def test_cancelling_a_running_job_interrupts_it_and_it_ends_cancelled(jobs):
    interrupted = []
    jobs.interrupt_running = interrupted.append
    job, _ = jobs.submit(spec())
    claim(jobs)
    jobs.cancel(job.id)
    assert interrupted == [job.id]
    assert jobs.finish(job.id, result={"images": []}).state == "cancelled"


def test_cancelling_a_finished_or_unknown_job_is_refused(jobs):
    job, _ = jobs.submit(spec())
    claim(jobs)
    jobs.finish(job.id, result={})
    with pytest.raises(JobConflict):
        jobs.cancel(job.id)
    with pytest.raises(JobNotFound):
        jobs.cancel("task(nope)")


def test_priority_changes_only_while_queued(jobs):
    a, _ = jobs.submit(spec("a"))
    b, _ = jobs.submit(spec("b"))
    jobs.set_priority(b.id, 5)
    assert claim(jobs).id == b.id
    with pytest.raises(JobConflict):
        jobs.set_priority(b.id, 1)
    with pytest.raises(QueueError, match="priority"):
        jobs.set_priority(a.id, 10**6)


def test_a_failed_job_is_retried_under_its_id(jobs):
    job, _ = jobs.submit(spec())
    claim(jobs)
    jobs.finish(job.id, error={"status": 500, "message": "boom"})
    jobs.retry(job.id)
    with pytest.raises(JobConflict, match="queued"):
        jobs.retry(job.id)
    again = jobs.get(job.id)
    assert (again.state, again.error, again.max_attempts) == ("queued", None, 3)
    assert claim(jobs).attempts == 2


def test_a_paused_queue_hands_out_nothing_until_resumed(jobs):
    jobs.submit(spec())
    jobs.pause()
    assert claim(jobs) is None
    jobs.resume()
    assert claim(jobs) is not None


def test_a_waiting_claim_wakes_on_submit(jobs):
    got = []
    waiter = threading.Thread(target=lambda: got.append(jobs.claim(threading.Event(), timeout=10)))
    waiter.start()
    job, _ = jobs.submit(spec())
    waiter.join(5)
    assert not waiter.is_alive() and got[0].id == job.id


def test_jobs_left_running_by_a_dead_process_are_queued_again_while_attempts_remain(tmp_path, clock):
    path = str(tmp_path / "jobs.sqlite3")
    first_run = JobQueue(job_store.JobStore(path, clock=clock), EventBus())
    once, _ = first_run.submit(spec("once"))
    twice, _ = first_run.submit(spec("twice"))
    waiting, _ = first_run.submit(spec("waiting"))
    claim(first_run)  # `once` runs, then the process dies
    # second run: `once` is queued again; it runs and the process dies again
    second_run = JobQueue(job_store.JobStore(path, clock=clock), EventBus())
    second_run.recover()
    assert second_run.get(once.id).state == "queued"
    assert claim(second_run).id == once.id
    third_run = JobQueue(job_store.JobStore(path, clock=clock), EventBus())
    third_run.recover()
    failed = third_run.get(once.id)
    assert (failed.state, failed.attempts) == ("failed", 2)
    assert "interrupted" in failed.error["message"]
    assert [third_run.get(j.id).state for j in (twice, waiting)] == ["queued", "queued"]


def test_finished_jobs_older_than_the_retention_are_pruned(store, clock):
    days = [2.0]
    jobs = JobQueue(store, EventBus(), retention_days=lambda: days[0])
    old, _ = jobs.submit(spec("old"))
    claim(jobs)
    jobs.finish(old.id, result={})
    clock.now += 3 * 86400
    queued_long_ago, _ = jobs.submit(spec("still queued"))
    new, _ = jobs.submit(spec("new"))
    claim(jobs)
    jobs.finish(queued_long_ago.id, result={})
    with pytest.raises(JobNotFound):
        jobs.get(old.id)
    assert jobs.get(queued_long_ago.id).state == "succeeded"
    assert jobs.get(new.id).state == "queued"
    days[0] = 0
    clock.now += 30 * 86400
    claim(jobs)
    jobs.finish(new.id, result={})
    assert jobs.get(queued_long_ago.id).state == "succeeded"  # 0 keeps them forever


def test_history_pages_follow_each_other_newest_first(jobs, store):
    ids = [jobs.submit(spec(str(i)))[0].id for i in range(7)]
    first = store.page(limit=3)
    second = store.page(limit=3, before_seq=first[-1].seq)
    third = store.page(limit=3, before_seq=second[-1].seq)
    assert [j.id for j in first + second + third] == ids[::-1]
    assert [j.id for j in store.page(state="queued", limit=2)] == ids[:-3:-1]


def test_events_tell_a_job_in_order_and_a_late_listener_to_one_job_sees_it_from_the_start(jobs):
    listener = jobs.events.subscribe()
    job, _ = jobs.submit(spec())
    claim(jobs)
    jobs.finish(job.id, result={})
    seen = [listener.next(timeout=1).type for _ in range(3)]
    assert seen == ["job.queued", "job.started", "job.succeeded"]
    late = jobs.events.subscribe(job=job.id)
    assert [late.next(timeout=1).type for _ in range(3)] == seen
    assert late.next(timeout=0) is None


def test_a_waiter_gets_the_value_or_the_error_and_a_cancelled_queued_job_wakes_it(jobs):
    done, _ = jobs.submit(spec("done"), wait=True)
    claim(jobs)
    jobs.finish(done.id, result={"r": 1}, value="the value")
    assert jobs.wait(done.id, timeout=1).value == "the value"
    cancelled, _ = jobs.submit(spec("cancelled"), wait=True)
    jobs.cancel(cancelled.id)
    assert isinstance(jobs.wait(cancelled.id, timeout=1).error, JobConflict)


def test_the_pages_interrupt_cancels_its_queued_job_and_interrupts_only_its_running_one(jobs):
    from modules import ui_progress
    from modules.runtime import job_state

    running, _ = jobs.submit(spec("runs"))
    mine, _ = jobs.submit(spec("mine"))
    claim(jobs)
    with job_state.job(running.id, "txt2img") as state:
        ui_progress.stop_job(jobs, mine.id, skip=True)
        assert jobs.get(mine.id).state == "queued", "Skip leaves a queued job"
        ui_progress.stop_job(jobs, mine.id)
        assert jobs.get(mine.id).state == "cancelled"
        assert not state.interrupted and not state.skipped
        ui_progress.stop_job(jobs, running.id, skip=True)
        assert state.skipped and not state.interrupted
        ui_progress.stop_job(jobs, running.id)
        assert state.interrupted
        ui_progress.stop_job(jobs, None)
        ui_progress.stop_job(jobs, "task(unknown)")


def test_a_page_that_goes_away_leaves_its_job_queued_and_nothing_kept_for_it(jobs):
    from modules import ui_progress

    updates = ui_progress.stream_job(jobs, spec("left behind"), finisher=lambda processed: "for the page")
    first = next(updates)
    assert jobs.finisher(first.job_id) is not None
    updates.close()
    assert jobs.finisher(first.job_id) is None
    assert jobs.get(first.job_id).state == "queued"
