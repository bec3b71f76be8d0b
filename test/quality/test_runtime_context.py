"""RuntimeContext and p.runtime_context (M09): what one generation runs with (model, which checkpoint it is, options
snapshot, device, job state, command line), grouped in one frozen value built once per generation right after the
options snapshot, on the tiny real models."""

import argparse
import ast
import copy
import dataclasses
import pathlib

import pytest
import torch
from PIL import Image

from modules import call_queue, devices, infotext_utils, processing, scripts, shared
from modules.opts_snapshot import create_opts_snapshot
from modules.runtime import job_state
from modules.runtime_context import ModelIdentity, RuntimeContext, create_runtime_context
from test.generation_job import SMALL_GENERATION, Hooks, process_as_a_job, runner_with, small_txt2img

REPO = pathlib.Path(__file__).resolve().parents[2]


def img2img(hooks=None, **fields) -> processing.StableDiffusionProcessingImg2Img:
    p = processing.StableDiffusionProcessingImg2Img(**{**SMALL_GENERATION, "denoising_strength": 0.6,
                                                       "init_images": [Image.new("RGB", (64, 64), "blue")], **fields})
    p.scripts = hooks
    return p


def identity_of_checkpoint(info) -> ModelIdentity:
    return ModelIdentity(title=info.title, name=info.name_for_extra, filename=info.filename,
                         short_hash=info.shorthash)


def context_now(model, snapshot) -> RuntimeContext:
    return create_runtime_context(model, snapshot, device=devices.device, state=shared.state.current(),
                                  cmd_opts=shared.cmd_opts)


@pytest.fixture
def contexts_built(monkeypatch) -> list:
    """Every context process_images_inner builds, in order."""
    built = []

    def recording(model, options, **sources):
        built.append(create_runtime_context(model, options, **sources))
        return built[-1]

    monkeypatch.setattr(processing, "create_runtime_context", recording)
    return built


# --- what it holds ----------------------------------------------------------------------------------------------

def test_each_field_is_its_source_when_the_process_scripts_run(sd_model):
    seen = {}

    def record(p):
        seen.update(context=p.runtime_context, p_model=p.sd_model, shared_model=shared.sd_model,
                    snapshot=p.opts_snapshot, device=devices.device, shared_device=shared.device,
                    state=shared.state.current(), cmd_opts=shared.cmd_opts)

    process_as_a_job(small_txt2img(Hooks(process=record)))
    context = seen["context"]
    assert isinstance(context, RuntimeContext)
    assert context.model is seen["p_model"] is seen["shared_model"] is sd_model
    assert context.opts_snapshot is seen["snapshot"] is not None
    assert context.device == seen["device"] == seen["shared_device"]
    assert context.state is seen["state"]
    assert context.cmd_opts is seen["cmd_opts"]
    assert context.model_identity == identity_of_checkpoint(sd_model.sd_checkpoint_info)
    assert context.model_identity.short_hash and context.model_identity.title.endswith(
        f"[{context.model_identity.short_hash}]")


def test_it_holds_the_sources_it_is_given(sd_model):
    other_device, other_state, other_cmd_opts = torch.device("cuda", 1), job_state.State(), argparse.Namespace()
    snapshot = create_opts_snapshot(shared.opts)
    context = create_runtime_context(sd_model, snapshot, device=other_device, state=other_state,
                                     cmd_opts=other_cmd_opts)
    assert (context.model, context.opts_snapshot) == (sd_model, snapshot)
    assert context.device == other_device
    assert context.state is other_state and context.cmd_opts is other_cmd_opts


def test_in_a_job_it_holds_that_jobs_own_state_not_the_servers(sd_model, contexts_built):
    server = shared.state.current()
    _, job, name = call_queue.run_as_job(call_queue.queue_lock, "task(context)", "txt2img", lambda: (
        processing.process_images(small_txt2img()), shared.state.current(), shared.state.job))
    assert [context.state for context in contexts_built] == [job]
    assert job is not server and name == "txt2img"


@pytest.mark.parametrize("checkpoint", ["selected", "override"])
def test_model_identity_is_the_checkpoint_the_infotext_names(sd_model, second_checkpoint, checkpoint):
    info = sd_model.sd_checkpoint_info if checkpoint == "selected" else second_checkpoint
    overrides = {} if checkpoint == "selected" else {"sd_model_checkpoint": second_checkpoint.title}
    p = small_txt2img(override_settings=overrides)
    processed = process_as_a_job(p)
    identity = p.runtime_context.model_identity
    assert identity == identity_of_checkpoint(info)
    written = infotext_utils.parse_generation_parameters(processed.infotexts[0])
    assert (written["Model"], written["Model hash"]) == (identity.name, identity.short_hash)
    assert (processed.sd_model_name, processed.sd_model_hash) == (identity.name, identity.short_hash)


def test_its_repr_names_the_checkpoint_and_device_not_the_whole_model(sd_model):
    context = context_now(sd_model, create_opts_snapshot(shared.opts))
    assert repr(context) == f"<RuntimeContext {sd_model.sd_checkpoint_info.title} on {devices.device}>"


# --- frozen ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", [field.name for field in dataclasses.fields(RuntimeContext)])
def test_no_field_of_the_context_can_be_rebound_or_deleted(sd_model, field):
    context = context_now(sd_model, create_opts_snapshot(shared.opts))
    held = getattr(context, field)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(context, field, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(context, field)
    assert getattr(context, field) is held


@pytest.mark.parametrize("field", [field.name for field in dataclasses.fields(ModelIdentity)])
def test_model_identity_is_a_frozen_value(sd_model, field):
    identity = ModelIdentity.of(sd_model)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(identity, field, "changed")
    assert identity == ModelIdentity.of(sd_model) and hash(identity) == hash(ModelIdentity.of(sd_model))


def test_copies_of_p_share_its_context_and_contexts_are_equal_only_to_themselves(sd_model):
    p = small_txt2img()
    process_as_a_job(p)
    assert copy.deepcopy(p).runtime_context is p.runtime_context
    assert copy.copy(p).runtime_context is p.runtime_context
    same_inputs = context_now(p.runtime_context.model, p.runtime_context.opts_snapshot)
    assert same_inputs != p.runtime_context and p.runtime_context == p.runtime_context
    assert len({p.runtime_context, same_inputs, p.runtime_context}) == 2


def test_the_request_cannot_set_it():
    with pytest.raises(TypeError, match="runtime_context"):
        processing.StableDiffusionProcessingTxt2Img(prompt="x", runtime_context=object())
    assert processing.StableDiffusionProcessingTxt2Img(prompt="x").runtime_context is None


# --- one per generation, there when the process scripts run -----------------------------------------------------

def test_one_context_per_generation_whatever_n_iter(sd_model, contexts_built):
    seen = []
    record = seen.append
    p = small_txt2img(Hooks(process=lambda p: record(("process", p.runtime_context)),
                      before_process_batch=lambda p: record(("before_process_batch", p.runtime_context)),
                      process_batch=lambda p: record(("process_batch", p.runtime_context)),
                      postprocess=lambda p: record(("postprocess", p.runtime_context))),
                n_iter=3, batch_size=2)
    processed = process_as_a_job(p)
    assert len(processed.images) == 6
    assert len(contexts_built) == 1
    assert [hook for hook, _ in seen] == ["process"] + ["before_process_batch", "process_batch"] * 3 + ["postprocess"]
    assert all(context is contexts_built[0] for _, context in seen)
    assert p.runtime_context is contexts_built[0]


def test_each_process_images_call_builds_its_own_and_a_reused_p_starts_without_the_last(sd_model, contexts_built):
    """As X/Y/Z and prompts-from-file do: the same request (or a copy of it) generated again."""
    at_before_process = []
    first = small_txt2img(Hooks(before_process=lambda p: at_before_process.append(p.runtime_context)))
    process_as_a_job(first)
    second = copy.copy(first)
    process_as_a_job(second)
    process_as_a_job(first)
    assert at_before_process == [None, None, None]
    assert len(contexts_built) == 3 and len({id(context) for context in contexts_built}) == 3
    assert second.runtime_context is contexts_built[1] and first.runtime_context is contexts_built[2]
    assert [context.opts_snapshot for context in contexts_built[1:]] == [second.opts_snapshot,
                                                                           first.opts_snapshot]


def test_it_is_built_right_after_the_snapshot_and_before_the_process_scripts(sd_model, monkeypatch):
    events = []
    real_snapshot, real_context = processing.create_opts_snapshot, processing.create_runtime_context
    monkeypatch.setattr(processing, "create_opts_snapshot",
                        lambda opts: (events.append("snapshot"), real_snapshot(opts))[1])
    monkeypatch.setattr(processing, "create_runtime_context",
                        lambda model, options, **sources: (events.append(("context", options)),
                                                           real_context(model, options, **sources))[1])
    p = small_txt2img(Hooks(process=lambda p: events.append("process")))
    process_as_a_job(p)
    assert events == ["snapshot", ("context", p.opts_snapshot), "process"]


class RecordsTheContext(scripts.Script):
    def title(self):
        return "Records the context"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def process(self, p, *args):
        self.seen = (p.runtime_context, p.opts_snapshot, p.sd_model)


@pytest.mark.parametrize("make", [small_txt2img, img2img], ids=["txt2img", "img2img"])
def test_an_alwayson_script_sees_it_in_process(sd_model, make):
    runner = runner_with(RecordsTheContext)
    script = runner.alwayson_scripts[0]
    p = make(runner)
    p.script_args = [0]
    process_as_a_job(p)
    context, snapshot, model = script.seen
    assert isinstance(context, RuntimeContext) and context is p.runtime_context
    assert context.opts_snapshot is snapshot and context.model is model is sd_model
    assert context.model_identity == identity_of_checkpoint(sd_model.sd_checkpoint_info)


def test_the_shared_objects_extensions_read_are_left_as_they_were(sd_model):
    before = (shared.sd_model, shared.state, shared.cmd_opts, shared.opts, shared.device, devices.device)
    process_as_a_job(small_txt2img())
    after = (shared.sd_model, shared.state, shared.cmd_opts, shared.opts, shared.device, devices.device)
    assert all(then is now for then, now in zip(before, after, strict=True))


# --- write-only in M09 ------------------------------------------------------------------------------------------

def runtime_context_uses(root: pathlib.Path, folders: tuple[str, ...]) -> list[tuple[str, str]]:
    """(file, "read" or "write") for every `.runtime_context` attribute use in the Python files under the folders."""
    uses = []
    for path in sorted(file for folder in folders for file in (root / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, ast.Attribute) and node.attr == "runtime_context":
                uses.append((path.relative_to(root).as_posix(), "read" if isinstance(node.ctx, ast.Load) else "write"))
    return uses


def test_only_processing_writes_it_and_reads_it_so_far():
    """M09 built and stored it; M16's NaN check is its first reader (the command line, passed to the check)."""
    uses = runtime_context_uses(REPO, ("modules", "scripts", "extensions-builtin"))
    assert uses == [("modules/processing.py", "write")] * 2 + [("modules/processing.py", "read")] * 3


def test_the_use_finder_tells_a_read_from_a_write(tmp_path):
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "m.py").write_text(
        "def f(p):\n    p.runtime_context = None\n    return p.runtime_context.model\n")
    assert sorted(runtime_context_uses(tmp_path, ("package",))) == [("package/m.py", "read"),
                                                                    ("package/m.py", "write")]
