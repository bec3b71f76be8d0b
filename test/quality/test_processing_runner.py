"""ProcessingRunner (M10): process_images hands each generation to the runner, inside the overrides, and the runner
runs the generation function it is given (process_images_inner, looked up at each call) once and returns its
result; the UI, the API and X/Y/Z plot all go through it, on the tiny real models."""

import ast
import collections.abc
import dataclasses
import pathlib
import typing

import numpy as np
import pytest
from PIL import Image

from modules import (
    extensions,
    img2img,
    processing,
    script_callbacks,
    scripts,
    sd_models,
    shared,
    txt2img,
    ui_progress,
    upscaler,
)
from modules.runtime.runner import ProcessingRequest, ProcessingRunner
from test.api_client import in_process_api, job_service
from test.generation_job import Hooks, process_as_a_job, small_txt2img
from test.smoke.api_helpers import from_base64, to_base64

RUNNER_SOURCE = pathlib.Path(__file__).resolve().parents[2] / "modules" / "runtime" / "runner.py"
SMALL = {"width": 64, "height": 64, "steps": 2, "sampler_name": "Euler"}
# X/Y/Z plot's script_args in A1111's order: x_type, x_values, x_values_dropdown, y_*, z_*, draw_legend,
# include_lone_images (the cells come back after the grid)
SEED_AXIS = ["Seed", "21, 22", [], "Nothing", "", [], "Nothing", "", [], False, True]


class GenerationFailed(Exception):
    pass


@dataclasses.dataclass
class Trace:
    """What ran, in order: ("run", p) when ProcessingRunner.run starts and ("run returned", p) when it returns,
    ("inner", p) and ("inner returned", p) for process_images_inner, plus what each got and gave."""

    events: list[tuple[str, processing.StableDiffusionProcessing]] = dataclasses.field(default_factory=list)
    requests: list[ProcessingRequest] = dataclasses.field(default_factory=list)
    run_results: list[processing.Processed] = dataclasses.field(default_factory=list)
    inner_results: list[processing.Processed] = dataclasses.field(default_factory=list)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@pytest.fixture
def trace(monkeypatch) -> Trace:
    """Spies around the real ProcessingRunner.run and process_images_inner."""
    recorded = Trace()
    real_run, real_inner = ProcessingRunner.run, processing.process_images_inner

    def run(self, request):
        recorded.requests.append(request)
        recorded.events.append(("run", request.processing))
        result = real_run(self, request)
        recorded.events.append(("run returned", request.processing))
        recorded.run_results.append(result)
        return result

    def inner(p):
        recorded.events.append(("inner", p))
        result = real_inner(p)
        recorded.events.append(("inner returned", p))
        recorded.inner_results.append(result)
        return result

    monkeypatch.setattr(ProcessingRunner, "run", run)
    monkeypatch.setattr(processing, "process_images_inner", inner)
    return recorded


@pytest.fixture
def quiet_outputs(monkeypatch):
    """Nothing written to disk; the grid returned (A1111's default)."""
    for key, value in {"samples_save": False, "grid_save": False, "return_grid": True,
                       "CLIP_stop_at_last_layers": 1}.items():
        monkeypatch.setitem(shared.opts.data, key, value)


@pytest.fixture
def loaded_scripts(sd_model, quiet_outputs, monkeypatch):
    """The built-in script files loaded into fresh tab runners with their argument layouts made, as start-up does
    (upscalers listed first, no extension); the runners, loaded scripts and callbacks before are back afterwards."""
    monkeypatch.setattr(shared, "sd_upscalers", upscaler.sd_upscalers)
    monkeypatch.setattr(extensions, "extensions", [])
    monkeypatch.setattr(scripts, "scripts_data", [])
    for name in ("scripts_txt2img", "scripts_img2img"):
        monkeypatch.setattr(scripts, name, scripts.ScriptRunner())
    callbacks_before = {name: list(callbacks) for name, callbacks in script_callbacks.callback_map.items()}
    scripts.initialize_scripts()
    for runner in (scripts.scripts_txt2img, scripts.scripts_img2img):
        runner.ensure_args_layout()
    yield
    for name, callbacks in script_callbacks.callback_map.items():
        callbacks[:] = callbacks_before[name]


@pytest.fixture
def api_client(loaded_scripts):
    return in_process_api()


def ui_script_args(runner: scripts.ScriptRunner, title: str | None = None, values=()) -> list:
    """The script inputs the tab sends: every default, with the script named by title selected and given values."""
    args = list(runner.default_args)
    if title is not None:
        script = runner.find_script(title)
        args[0] = runner.selectable_index(title)
        args[script.args_from:script.args_from + len(values)] = values
    return args


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def assert_served_through_the_runner(trace: Trace, processing_class, served: list[Image.Image]) -> None:
    """One runner call per image served, each running process_images_inner once on the request's processing object,
    and the images served are the ones the runner returned."""
    assert trace.kinds() == ["run", "inner", "inner returned", "run returned"] * len(served)
    assert all(p is request.processing for (_, p), request in zip(trace.events[1::4], trace.requests))
    assert all(type(request.processing) is processing_class for request in trace.requests)
    assert all(result is inner for result, inner in zip(trace.run_results, trace.inner_results))
    for image, result in zip(served, trace.run_results):
        assert np.array_equal(pixels(image), pixels(result.images[0]))


# --- delegation -------------------------------------------------------------------------------------------------

def test_process_images_runs_process_images_inner_once_inside_the_runner_and_returns_its_result(sd_model, trace):
    p = small_txt2img()
    processed = process_as_a_job(p)
    assert trace.kinds() == ["run", "inner", "inner returned", "run returned"]
    assert all(subject is p for _, subject in trace.events)
    assert [request.processing for request in trace.requests] == [p]
    assert processed is trace.run_results[0] is trace.inner_results[0]
    assert len(processed.images) == 1 and processed.seed == 11


def test_each_process_images_call_is_one_runner_call_whatever_the_batch(sd_model, trace):
    p = small_txt2img(n_iter=2, batch_size=2)
    assert len(process_as_a_job(p).images) == 4
    process_as_a_job(p)
    assert trace.kinds() == ["run", "inner", "inner returned", "run returned"] * 2
    assert trace.requests[0] is not trace.requests[1]
    assert [request.processing for request in trace.requests] == [p, p]


def test_the_runner_returns_what_its_generation_function_returns():
    p, result, received = small_txt2img(), object(), []
    runner = ProcessingRunner(lambda given: received.append(given) or result)
    assert runner.run(ProcessingRequest(processing=p)) is result
    assert received == [p]


def test_process_images_gives_the_runner_process_images_inner_as_it_is_at_call_time(sd_model, monkeypatch):
    """An extension that wraps modules.processing.process_images_inner after import is the one that runs."""
    result, received = processing.Processed(small_txt2img(), []), []
    monkeypatch.setattr(processing, "process_images_inner", lambda given: received.append(given) or result)
    p = small_txt2img()
    assert process_as_a_job(p) is result
    assert received == [p]


def test_an_exception_from_process_images_inner_reaches_the_caller_unchanged_and_the_overrides_are_undone(
        sd_model, trace, monkeypatch):
    error, seen = GenerationFailed("mid-generation"), []

    def failing(p):
        seen.append(shared.opts.CLIP_stop_at_last_layers)
        raise error

    monkeypatch.setitem(shared.opts.data, "CLIP_stop_at_last_layers", 1)
    monkeypatch.setattr(processing, "process_images_inner", failing)
    with pytest.raises(GenerationFailed) as raised:
        process_as_a_job(small_txt2img(override_settings={"CLIP_stop_at_last_layers": 2}))
    assert raised.value is error
    assert seen == [2]
    assert trace.kinds() == ["run"]
    assert shared.opts.CLIP_stop_at_last_layers == 1


def test_an_exception_in_the_real_generation_passes_through_the_runner_unchanged(sd_model, trace):
    error = GenerationFailed("from the process hook")

    def fail(p):
        raise error

    with pytest.raises(GenerationFailed) as raised:
        process_as_a_job(small_txt2img(Hooks(process=fail)))
    assert raised.value is error
    assert trace.kinds() == ["run", "inner"]


def test_the_runner_starts_after_before_process_and_checkpoint_preparation_inside_the_overrides(
        sd_model, second_checkpoint, tiny_checkpoint, trace, monkeypatch):
    """Another checkpoint is loaded while the options select the tiny one, and p holds a previous run's snapshot
    and context: when the runner starts, process_images has cleared them, run before_process, loaded the selected
    checkpoint and applied the override."""
    at_start, stale = [], object()
    spied_run = ProcessingRunner.run

    def run(self, request):
        p = request.processing
        at_start.append({"clip skip": shared.opts.CLIP_stop_at_last_layers, "snapshot": p.opts_snapshot,
                         "context": p.runtime_context, "checkpoint": shared.sd_model.sd_checkpoint_info.filename})
        return spied_run(self, request)

    monkeypatch.setitem(shared.opts.data, "CLIP_stop_at_last_layers", 1)
    monkeypatch.setattr(ProcessingRunner, "run", run)
    selected = shared.opts.sd_model_checkpoint
    sd_models.reload_model_weights(info=second_checkpoint)  # which selects it: select the tiny one again
    shared.opts.set("sd_model_checkpoint", selected, run_callbacks=False)
    hooks = Hooks(before_process=lambda p: trace.events.append(("before_process", p)))
    p = small_txt2img(hooks, override_settings={"CLIP_stop_at_last_layers": 2})
    p.opts_snapshot = p.runtime_context = stale
    process_as_a_job(p)
    assert trace.kinds() == ["before_process", "run", "inner", "inner returned", "run returned"]
    assert at_start == [{"clip skip": 2, "snapshot": None, "context": None, "checkpoint": tiny_checkpoint}]
    assert p.opts_snapshot.CLIP_stop_at_last_layers == 2
    assert shared.opts.CLIP_stop_at_last_layers == 1


# --- the types --------------------------------------------------------------------------------------------------

def test_a_request_wraps_one_processing_object_and_cannot_be_rebound():
    p = small_txt2img()
    request = ProcessingRequest(processing=p)
    assert request.processing is p and ProcessingRequest(p) == request
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.processing = small_txt2img()


def test_request_and_runner_are_typed():
    assert typing.get_type_hints(ProcessingRequest) == {"processing": typing.Any}
    assert typing.get_type_hints(ProcessingRunner.run) == {"request": ProcessingRequest}
    assert typing.get_type_hints(ProcessingRunner.__init__) == {"generate": collections.abc.Callable[[typing.Any], typing.Any]}


GLOBAL_STATE = {"shared", "opts", "state", "cmd_opts", "sd_model", "device", "devices"}


def global_state_named(source: str) -> set[str]:
    """The names of the webui's global state (GLOBAL_STATE) a source file uses, as names or attributes."""
    names = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute)}
    return (names | attributes) & GLOBAL_STATE


def webui_modules_imported(source: str) -> set[str]:
    """The modules/ modules a source file imports, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "modules":
            found.update(f"modules.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modules."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("modules"))
    return found


def test_the_runner_reads_no_shared_state_of_its_own():
    """It imports nothing of the webui (the generation function is handed to it), and reaches no global."""
    source = RUNNER_SOURCE.read_text(encoding="utf8")
    assert webui_modules_imported(source) == set()
    assert global_state_named(source) == set()


def test_nothing_in_the_runtime_package_imports_processing():
    """The runtime is what a generation runs with; processing depends on it, never the other way round."""
    runtime = RUNNER_SOURCE.parent
    imported = {path.name: webui_modules_imported(path.read_text(encoding="utf8")) for path in runtime.glob("*.py")}
    assert {"runner.py", "options_view.py", "job_state.py", "context.py", "snapshot.py", "threads.py"} <= set(imported)
    assert {name: found for name, found in imported.items() if "modules.processing" in found} == {}


def test_the_scans_see_a_shared_import_and_a_global_reached_through_a_module():
    assert global_state_named("def run(request):\n    return processing.shared.opts.x, processing.state\n") == {
        "shared", "opts", "state"}
    assert webui_modules_imported("def run():\n    from modules import shared, processing\n") == {
        "modules.shared", "modules.processing"}
    assert webui_modules_imported("import modules.shared as s\nfrom modules.shared import opts\n") == {
        "modules.shared"}


# --- every caller goes through it -------------------------------------------------------------------------------

def generate_in_the_ui(make_spec, **fields):
    """A generation as the tab's Generate button runs it (ui_common.connect_generation): the tab's spec submitted to
    the job queue; returns the tab's (images, info js, info html, comments)."""
    updates = list(ui_progress.stream_job(job_service().queue, make_spec(**fields), txt2img.process_result))
    result, error = updates[-1].result
    assert error is None
    return result


def test_a_ui_txt2img_generation_goes_through_the_runner(loaded_scripts, trace):
    images, info_js, _, _ = generate_in_the_ui(txt2img.txt2img_spec, prompt="a blue square", seed=5,
                                               script_args=ui_script_args(scripts.scripts_txt2img), **SMALL)
    assert_served_through_the_runner(trace, processing.StableDiffusionProcessingTxt2Img, images)
    assert trace.requests[0].processing.prompt == "a blue square"
    assert '"seed": 5' in info_js


def test_a_ui_img2img_generation_goes_through_the_runner(loaded_scripts, trace):
    images, _, _, _ = generate_in_the_ui(img2img.img2img_spec, prompt="a blue square", seed=5,
                                         init_img=Image.new("RGB", (64, 64), "red"), denoising_strength=0.6,
                                         script_args=ui_script_args(scripts.scripts_img2img), **SMALL)
    assert_served_through_the_runner(trace, processing.StableDiffusionProcessingImg2Img, images)
    assert trace.requests[0].processing.init_images[0].size == (64, 64)


def test_an_api_txt2img_goes_through_the_runner(api_client, trace):
    response = api_client.post("/sdapi/v1/txt2img", json={"prompt": "a blue square", "seed": 5, **SMALL})
    assert response.status_code == 200, response.text
    assert_served_through_the_runner(trace, processing.StableDiffusionProcessingTxt2Img,
                                      [from_base64(image) for image in response.json()["images"]])
    assert trace.requests[0].processing.is_api


def test_an_api_img2img_goes_through_the_runner(api_client, trace):
    init = to_base64(Image.new("RGB", (64, 64), "red"))
    response = api_client.post("/sdapi/v1/img2img", json={"prompt": "a blue square", "seed": 5, "init_images": [init],
                                                          "denoising_strength": 0.6, **SMALL})
    assert response.status_code == 200, response.text
    assert_served_through_the_runner(trace, processing.StableDiffusionProcessingImg2Img,
                                      [from_base64(image) for image in response.json()["images"]])
    assert trace.requests[0].processing.is_api


def test_an_api_xyz_plot_runs_each_cell_through_the_runner(api_client, trace):
    response = api_client.post("/sdapi/v1/txt2img", json={"prompt": "a blue square", "seed": 5, **SMALL,
                                                          "script_name": "X/Y/Z plot", "script_args": SEED_AXIS})
    assert response.status_code == 200, response.text
    grid, *cells = [from_base64(image) for image in response.json()["images"]]
    assert_served_through_the_runner(trace, processing.StableDiffusionProcessingTxt2Img, cells)
    assert [request.processing.seed for request in trace.requests] == [21, 22]
    assert np.array_equal(pixels(grid), np.hstack([pixels(cell) for cell in cells]))  # no legend: cells side by side


def test_a_ui_xyz_plot_runs_each_cell_through_the_runner(loaded_scripts, trace):
    args = ui_script_args(scripts.scripts_txt2img, "X/Y/Z plot", SEED_AXIS)
    images, _, _, _ = generate_in_the_ui(txt2img.txt2img_spec, prompt="a blue square", seed=5,
                                         script_args=args, **SMALL)
    grid, *cells = images
    assert_served_through_the_runner(trace, processing.StableDiffusionProcessingTxt2Img, cells)
    assert [request.processing.seed for request in trace.requests] == [21, 22]
    assert np.array_equal(pixels(grid), np.hstack([pixels(cell) for cell in cells]))  # no legend: cells side by side
