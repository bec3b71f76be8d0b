"""create_opts_snapshot(opts) and p.opts_snapshot (M07): a read-only copy of every option value, taken once per
generation right after the prompt and seed preparation, on the tiny real models."""

import copy
import pickle

import pytest

from modules import options, opts_snapshot, processing, shared
from modules.opts_snapshot import OptsSnapshot, create_opts_snapshot
from test.generation_job import Hooks, process_as_a_job, small_txt2img


def every_value(opts) -> dict:
    """What reading each registered option and each stored value by attribute gives now."""
    return {key: getattr(opts, key) for key in {*opts.data_labels, *opts.data}}


@pytest.fixture
def options_like_shared():
    """An Options with a list, a dict, a number and an unsaved HTML entry; one value set, the rest defaults."""
    labels = {
        "names": options.OptionInfo(["a", "b"]),
        "mapping": options.OptionInfo({"k": [1, 2]}),
        "count": options.OptionInfo(3),
        "explanation": options.OptionHTML("<p>about</p>"),
    }
    opts = options.Options(labels, set())
    opts.data.pop("count")
    opts.data["from_a_removed_extension"] = "kept"
    return opts


# --- the snapshot ---------------------------------------------------------------------------------------------

def test_it_holds_every_value_shared_opts_gives(monkeypatch):
    monkeypatch.setitem(shared.opts.data, "samples_format", "jpg")
    monkeypatch.setitem(shared.opts.data, "an_unregistered_key", [1, 2])
    monkeypatch.delitem(shared.opts.data, "eta_noise_seed_delta")
    snapshot = create_opts_snapshot(shared.opts)
    expected = every_value(shared.opts)
    assert {key: getattr(snapshot, key) for key in expected} == expected
    assert set(snapshot) == set(expected) and len(snapshot) == len(expected)
    assert snapshot.eta_noise_seed_delta == shared.opts.get_default("eta_noise_seed_delta")


def test_defaults_fill_what_data_does_not_hold(options_like_shared):
    snapshot = create_opts_snapshot(options_like_shared)
    assert snapshot.as_dict() == {"names": ["a", "b"], "mapping": {"k": [1, 2]}, "count": 3,
                                  "explanation": "<p>about</p>", "from_a_removed_extension": "kept"}


def test_later_changes_to_the_options_do_not_reach_it(options_like_shared):
    opts = options_like_shared
    snapshot = create_opts_snapshot(opts)
    opts.data["names"].append("c")
    opts.data["mapping"]["k"].append(3)
    opts.data["mapping"]["new"] = 1
    opts.count = 4
    opts.data["from_a_removed_extension"] = "changed"
    assert snapshot.as_dict() == {"names": ["a", "b"], "mapping": {"k": [1, 2]}, "count": 3,
                                  "explanation": "<p>about</p>", "from_a_removed_extension": "kept"}


def test_in_place_edits_of_shared_list_options_do_not_reach_it(monkeypatch):
    monkeypatch.setitem(shared.opts.data, "quicksettings_list", ["sd_model_checkpoint"])
    snapshot = create_opts_snapshot(shared.opts)
    shared.opts.quicksettings_list.append("sd_vae")
    assert shared.opts.quicksettings_list == ["sd_model_checkpoint", "sd_vae"]
    assert snapshot.quicksettings_list == ["sd_model_checkpoint"]


@pytest.mark.parametrize("name", ["samples_format", "a_new_name", "_values"])
def test_assignment_and_deletion_raise(name):
    snapshot = create_opts_snapshot(shared.opts)
    before = snapshot.as_dict()
    with pytest.raises(AttributeError, match=f"read-only: cannot set {name}"):
        setattr(snapshot, name, "webp")
    with pytest.raises(AttributeError, match=f"read-only: cannot delete {name}"):
        delattr(snapshot, name)
    assert snapshot.as_dict() == before
    assert not hasattr(snapshot, "__dict__"), "no instance dict to write around the guard"


def test_calling_the_constructor_again_on_it_changes_nothing(options_like_shared):
    snapshot = create_opts_snapshot(options_like_shared)
    snapshot.__init__({"count": 99})
    assert snapshot.count == 3 and len(snapshot) == 5


def test_values_handed_out_are_copies_so_no_reader_changes_it(options_like_shared):
    snapshot = create_opts_snapshot(options_like_shared)
    snapshot.names.append("c")
    snapshot.mapping["k"].clear()
    snapshot.as_dict()["names"].append("d")
    assert snapshot.names == ["a", "b"] and snapshot.mapping == {"k": [1, 2]}


def test_an_unknown_name_raises_attribute_error_like_shared_opts():
    snapshot = create_opts_snapshot(shared.opts)
    with pytest.raises(AttributeError, match="unknown option: no_such_option"):
        _ = snapshot.no_such_option
    assert getattr(snapshot, "no_such_option", "fallback") == "fallback"
    assert "samples_format" in snapshot and "no_such_option" not in snapshot


def test_copies_and_pickles_keep_the_values(options_like_shared):
    snapshot = create_opts_snapshot(options_like_shared)
    assert copy.copy(snapshot) is snapshot and copy.deepcopy(snapshot) is snapshot
    restored = pickle.loads(pickle.dumps(snapshot))
    assert isinstance(restored, OptsSnapshot) and restored == snapshot
    assert restored.as_dict() == snapshot.as_dict()
    assert snapshot != create_opts_snapshot(options.Options({"count": options.OptionInfo(3)}, set()))


# --- p.opts_snapshot in a generation --------------------------------------------------------------------------

def test_a_generation_keeps_the_values_shared_opts_had_when_it_was_taken(sd_model, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "eta_noise_seed_delta", 0)
    at_capture = {}
    hooks = Hooks(process=lambda p: at_capture.update(every_value(shared.opts)))
    p = small_txt2img(hooks)
    process_as_a_job(p)
    assert isinstance(p.opts_snapshot, OptsSnapshot)
    assert {key: getattr(p.opts_snapshot, key) for key in at_capture} == at_capture
    assert set(p.opts_snapshot) == set(at_capture)


def test_it_holds_the_request_overrides_and_keeps_them_after_they_are_put_back(sd_model, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "eta_noise_seed_delta", 0)
    monkeypatch.setitem(shared.opts.data, "samples_format", "png")
    p = small_txt2img(override_settings={"eta_noise_seed_delta": 42, "samples_format": "jpg"})
    process_as_a_job(p)
    assert (p.opts_snapshot.eta_noise_seed_delta, p.opts_snapshot.samples_format) == (42, "jpg")
    assert (shared.opts.eta_noise_seed_delta, shared.opts.samples_format) == (0, "png")


def test_changes_to_shared_opts_during_the_generation_do_not_reach_it(sd_model, monkeypatch):
    """A script changing shared.opts after the snapshot changes its job's options layer (which it then reads), not
    the snapshot, and not the base (M11)."""
    monkeypatch.setitem(shared.opts.data, "eta_noise_seed_delta", 0)
    monkeypatch.setitem(shared.opts.data, "quicksettings_list", ["sd_model_checkpoint"])
    seen = []

    def change_options(p):
        shared.opts.data["eta_noise_seed_delta"] = 99
        shared.opts.quicksettings_list.append("sd_vae")
        seen.append((shared.opts.eta_noise_seed_delta, shared.opts.quicksettings_list))

    p = small_txt2img(Hooks(before_process_batch=change_options))
    process_as_a_job(p)
    assert seen == [(99, ["sd_model_checkpoint", "sd_vae"])]
    assert p.opts_snapshot.eta_noise_seed_delta == 0
    assert p.opts_snapshot.quicksettings_list == ["sd_model_checkpoint"]
    assert (shared.opts.eta_noise_seed_delta, shared.opts.quicksettings_list) == (0, ["sd_model_checkpoint"])


def test_each_process_images_call_takes_its_own_with_its_own_overrides(sd_model, monkeypatch):
    """As X/Y/Z and prompts-from-file do: the same request (or a copy of it) generated again."""
    monkeypatch.setitem(shared.opts.data, "eta_noise_seed_delta", 0)
    first = small_txt2img(override_settings={"eta_noise_seed_delta": 1})
    process_as_a_job(first)
    second = copy.copy(first)
    second.override_settings = {"eta_noise_seed_delta": 2}
    process_as_a_job(second)
    assert (first.opts_snapshot.eta_noise_seed_delta, second.opts_snapshot.eta_noise_seed_delta) == (1, 2)


def test_one_snapshot_per_generation_whatever_n_iter(sd_model, monkeypatch):
    taken = []
    real = opts_snapshot.create_opts_snapshot

    def counting(opts):
        taken.append(real(opts))
        return taken[-1]

    monkeypatch.setattr(processing, "create_opts_snapshot", counting)
    seen_per_batch = []
    p = small_txt2img(Hooks(process_batch=lambda p: seen_per_batch.append(p.opts_snapshot)), n_iter=3)
    processed = process_as_a_job(p)
    assert len(processed.images) == 3
    assert len(taken) == 1
    assert len(seen_per_batch) == 3 and all(seen is taken[0] for seen in seen_per_batch)
    assert p.opts_snapshot is taken[0]


def test_it_is_taken_after_prompt_and_seed_preparation_and_before_the_process_scripts(sd_model, monkeypatch):
    events = []
    real_prepare, real_create = processing.prepare_prompt_seed_state, processing.create_opts_snapshot
    monkeypatch.setattr(processing, "prepare_prompt_seed_state",
                        lambda p: (events.append(("prepared", p.opts_snapshot)), real_prepare(p)))
    monkeypatch.setattr(processing, "create_opts_snapshot",
                        lambda opts: (events.append(("snapshot", None)), real_create(opts))[1])
    p = small_txt2img(Hooks(process=lambda p: events.append(("process", p.opts_snapshot))))
    process_as_a_job(p)
    assert [name for name, _ in events] == ["prepared", "snapshot", "process"]
    assert events[0][1] is None, "the preparation runs before the snapshot exists"
    assert events[2][1] is p.opts_snapshot


def test_the_request_cannot_set_it():
    with pytest.raises(TypeError, match="opts_snapshot"):
        processing.StableDiffusionProcessingTxt2Img(prompt="x", opts_snapshot=create_opts_snapshot(shared.opts))
    assert processing.StableDiffusionProcessingTxt2Img(prompt="x").opts_snapshot is None
