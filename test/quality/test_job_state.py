"""M11: each job has a State of its own (progress, live preview, interrupt, skip), bound to its context; shared.state
resolves to it inside the job, and to the running job outside one; progress answers per task id."""

import threading

import pytest

from modules import progress, shared
from modules.runtime import job_state
from modules.runtime.threads import start_thread

TIMEOUT_S = 10


class TwoJobs:
    """Two jobs running at once on two threads: each runs its action (if any) once both are inside, waits for the
    other's, then stays parked inside its job until released, and records what it sees."""

    def __init__(self, ids=("task(a)", "task(b)"), actions=None):
        self.ids = ids
        self.actions = actions or {}
        self.inside = threading.Barrier(len(ids) + 1, timeout=TIMEOUT_S)
        self.acted = threading.Barrier(len(ids), timeout=TIMEOUT_S)
        self.release = threading.Event()
        self.seen = {}
        self.threads = [threading.Thread(target=self._run, args=(id_task,)) for id_task in ids]

    def _run(self, id_task):
        with job_state.job(id_task, f"job {id_task}") as state:
            self.seen[id_task] = {"bound": shared.state.current() is state}
            self.inside.wait()
            self.actions.get(id_task, lambda: None)()
            self.acted.wait()
            self.release.wait(TIMEOUT_S)
            self.seen[id_task].update(interrupted=shared.state.interrupted, skipped=shared.state.skipped,
                                      step=shared.state.sampling_step)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        self.inside.wait()
        return self

    def __exit__(self, *exc):
        self.release.set()
        for thread in self.threads:
            thread.join(TIMEOUT_S)
        return False


@pytest.fixture(autouse=True)
def server_state_flags_put_back(monkeypatch):
    server = shared.state.current()
    for name in ("interrupted", "skipped", "sampling_step", "job"):
        monkeypatch.setattr(server, name, getattr(server, name))
    assert not job_state.running_jobs(), "no job may be left running by an earlier test"


def test_outside_any_job_shared_state_is_the_servers_own():
    server = shared.state.current()
    shared.state.sampling_step = 3
    assert server.sampling_step == 3 and shared.state.sampling_step == 3


def test_inside_a_job_shared_state_is_the_jobs_and_the_server_state_is_untouched():
    server = shared.state.current()
    with job_state.job("task(one)", "txt2img") as state:
        assert shared.state.current() is state is job_state.running("task(one)")
        shared.state.sampling_step = 7
        assert state.sampling_step == 7 and state.job == "txt2img"
        assert server.sampling_step != 7
    assert job_state.running("task(one)") is None and shared.state.current() is server


def test_server_wide_attributes_always_reach_the_server_state(monkeypatch):
    server = shared.state.current()
    monkeypatch.setattr(server, "preview_decoder", server.preview_decoder)
    with job_state.job("task(one)", "txt2img") as state:
        shared.state.preview_decoder = "a decoder"
        assert shared.state.server_start == server.server_start
    assert server.preview_decoder == "a decoder" and state.preview_decoder is None


def test_two_jobs_at_once_each_see_their_own_state():
    with TwoJobs() as jobs:
        a, b = (job_state.running(id_task) for id_task in jobs.ids)
        a.sampling_step, b.sampling_step = 4, 9
    assert jobs.seen["task(a)"] == {"bound": True, "interrupted": False, "skipped": False, "step": 4}
    assert jobs.seen["task(b)"] == {"bound": True, "interrupted": False, "skipped": False, "step": 9}


@pytest.mark.parametrize("action", ["interrupt", "skip"])
def test_an_interrupt_or_skip_from_inside_a_job_reaches_that_job_only(action):
    flag = {"interrupt": "interrupted", "skip": "skipped"}[action]
    with TwoJobs(actions={"task(a)": getattr(shared.state, action)}) as jobs:
        pass
    assert jobs.seen["task(a)"][flag] and not jobs.seen["task(b)"][flag]
    assert not shared.state.current().interrupted, "the server state is not a job"


@pytest.mark.parametrize("action", ["interrupt", "skip"])
def test_the_ui_buttons_and_the_api_reach_the_running_jobs_not_the_idle_server_state(action):
    """Outside any job (the Interrupt/Skip buttons, POST /sdapi/v1/interrupt and /skip): every running job."""
    flag = {"interrupt": "interrupted", "skip": "skipped"}[action]
    with TwoJobs() as jobs:
        getattr(shared.state, action)()
    assert all(seen[flag] for seen in jobs.seen.values())
    assert not getattr(shared.state.current(), flag)


def test_the_state_views_buttons_resolve_at_click_time():
    """Functions taken from shared.state long before any job (extensions' buttons) must resolve when called."""
    for name in ("interrupt", "skip"):
        method = getattr(shared.state, name)
        assert method.__self__ is shared.state and method.__func__ is getattr(job_state.JobStateView, name)


def test_a_thread_started_through_the_helper_works_on_the_jobs_state():
    with job_state.job("task(one)", "txt2img") as state:
        start_thread(lambda: setattr(shared.state, "textinfo", "from the helper thread")).join(TIMEOUT_S)
    assert state.textinfo == "from the helper thread"


def test_progress_answers_for_each_running_task_from_its_own_state():
    with TwoJobs() as jobs:
        a, b = (job_state.running(id_task) for id_task in jobs.ids)
        a.job_count, a.sampling_steps, a.sampling_step = 1, 10, 5
        b.job_count, b.sampling_steps, b.sampling_step = 1, 10, 1
        a.textinfo, b.textinfo = "job a", "job b"
        answers = {id_task: progress.progress_for(id_task, live_preview=False) for id_task in jobs.ids}
    assert (answers["task(a)"]["active"], answers["task(a)"]["progress"], answers["task(a)"]["textinfo"]) == \
        (True, 0.5, "job a")
    assert (answers["task(b)"]["active"], answers["task(b)"]["progress"], answers["task(b)"]["textinfo"]) == \
        (True, 0.1, "job b")
    assert progress.progress_for("task(a)")["active"] is False, "over once the job ends"


def test_the_state_a_job_leaves_behind_is_not_reused():
    with job_state.job("task(one)", "txt2img") as first:
        shared.state.interrupt()
    with job_state.job("task(two)", "txt2img") as second:
        assert not shared.state.interrupted
    assert first is not second and first.interrupted


def test_a_generation_decodes_its_live_preview_only_when_one_is_read(sd_model, monkeypatch):
    from PIL import Image

    from modules import processing

    monkeypatch.setitem(shared.opts.data, "live_previews_enable", True)
    monkeypatch.setitem(shared.opts.data, "show_progress_every_n_steps", 1)
    decoded_at = []

    def decoder(latent, options):
        decoded_at.append(shared.state.sampling_step)
        return Image.new("RGB", (8, 8))

    def generate():
        with job_state.job("task(preview)", "txt2img", live_options=shared.opts, preview_decoder=decoder):
            processing.process_images(processing.StableDiffusionProcessingTxt2Img(
                prompt="a red circle", seed=3, steps=4, width=64, height=64, sampler_name="Euler",
                do_not_save_samples=True, do_not_save_grid=True))

    generate()
    assert decoded_at == [], "nobody read the preview: the sampling loop decoded none"

    real_callback = processing.sampling_progress_callback

    def read_after_step(step, total, latent):
        real_callback(step, total, latent)
        if step in (1, 3):
            assert progress.progress_for("task(preview)", id_live_preview=-1)["live_preview"] is not None

    monkeypatch.setattr(processing, "sampling_progress_callback", read_after_step)
    generate()
    assert decoded_at == [2, 4], "a progress request decodes the latest latent"


def test_sdapi_progress_decodes_the_preview_only_when_it_returns_it(monkeypatch):
    from PIL import Image

    from modules.api.api import Api

    monkeypatch.setitem(shared.opts.data, "live_previews_enable", True)
    monkeypatch.setitem(shared.opts.data, "show_progress_every_n_steps", 1)
    decoded = []
    state = job_state.State(live_options=shared.opts)
    state.preview_decoder = lambda latent, options: decoded.append(latent) or Image.new("RGB", (8, 8))
    with job_state.listed("task(sdapi-progress)", state, "txt2img"):
        state.job_count, state.sampling_steps, state.sampling_step, state.current_latent = 1, 4, 2, "latent"
        skipped = Api.progressapi(None, skip_current_image=True, id_task="task(sdapi-progress)")
        assert skipped.current_image is None and decoded == []
        shown = Api.progressapi(None, id_task="task(sdapi-progress)")
        assert shown.current_image and decoded == ["latent"]
