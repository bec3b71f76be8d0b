"""M11: a job's options are a copy of the base taken when the job starts, under the job's own layers, bound to the
job's context: what the job reads and sets is its own, and config.json only ever holds the base."""

import contextvars
import json
import threading

import pytest

from modules import options, shared
from modules.runtime import options_view
from modules.runtime.threads import start_thread

TIMEOUT_S = 10


@pytest.fixture
def opts(monkeypatch):
    """A fresh Options over shared.opts' option list, with no settings frozen."""
    monkeypatch.setattr(shared.cmd_opts, "freeze_settings", False)
    return options.Options(dict(shared.opts.data_labels), set(shared.opts.restricted_opts))


def in_empty_context(func, *args):
    """Runs func as code outside every job does (a request handler, the settings page)."""
    return contextvars.Context().run(func, *args)


def test_outside_a_job_reads_and_writes_reach_the_base(opts):
    assert opts.data is opts.layers.base
    opts.set("eta_noise_seed_delta", 5)
    assert opts.layers.base["eta_noise_seed_delta"] == 5 and opts.eta_noise_seed_delta == 5


def test_a_job_reads_the_base_as_it_was_when_the_job_started(opts):
    opts.set("eta_noise_seed_delta", 1)
    with options_view.job_options(opts):
        in_empty_context(opts.set, "eta_noise_seed_delta", 2)
        assert opts.eta_noise_seed_delta == 1
        assert opts.data["eta_noise_seed_delta"] == 1
    assert opts.eta_noise_seed_delta == 2, "the write reached the base, for later jobs"


def test_what_a_job_sets_stays_in_the_job(opts):
    with options_view.job_options(opts):
        opts.set("samples_format", "jpg")
        opts.CLIP_stop_at_last_layers = 3
        opts.data["jpeg_quality"] = 7
        assert (opts.samples_format, opts.CLIP_stop_at_last_layers, opts.jpeg_quality) == ("jpg", 3, 7)
        assert in_empty_context(lambda: (opts.samples_format, opts.CLIP_stop_at_last_layers)) == ("png", 1)
    assert (opts.samples_format, opts.CLIP_stop_at_last_layers, opts.jpeg_quality) == ("png", 1, 80)


def test_a_list_value_changed_in_place_inside_a_job_stays_in_the_job(opts):
    with options_view.job_options(opts):
        opts.quicksettings_list.append("in-the-job-only")
        assert "in-the-job-only" in opts.quicksettings_list
    assert "in-the-job-only" not in opts.quicksettings_list


def test_save_inside_a_job_writes_the_base_never_the_layer(opts, tmp_path):
    config = tmp_path / "config.json"
    with options_view.job_options(opts):
        opts.set("samples_format", "jpg")
        opts.save(str(config))
    saved = json.loads(config.read_text())
    assert saved["samples_format"] == "png"
    assert saved == opts.layers.base


def test_override_layers_nest_and_each_ends_with_its_block(opts):
    with options_view.override_layer(opts, {"eta_noise_seed_delta": 10, "samples_format": "jpg"}):
        with options_view.override_layer(opts, {"eta_noise_seed_delta": 20}):
            assert (opts.eta_noise_seed_delta, opts.samples_format) == (20, "jpg")
        assert (opts.eta_noise_seed_delta, opts.samples_format) == (10, "jpg")
    assert (opts.eta_noise_seed_delta, opts.samples_format) == (0, "png")


@pytest.mark.parametrize("raises", [False, True], ids=["returns", "raises"])
def test_restore_afterwards_false_keeps_the_overrides_in_every_enclosing_layer_and_the_base(opts, raises):
    with options_view.job_options(opts):
        with pytest.raises(RuntimeError) if raises else _nothing():
            with options_view.override_layer(opts, {"eta_noise_seed_delta": 77}, restore_afterwards=False):
                opts.set("CLIP_stop_at_last_layers", 2)
                if raises:
                    raise RuntimeError("boom")
        assert opts.eta_noise_seed_delta == 77, "the rest of the job sees it"
        assert opts.CLIP_stop_at_last_layers == 1, "only the overridden options are kept"
    assert opts.eta_noise_seed_delta == 77, "later jobs see it"
    assert opts.layers.base["eta_noise_seed_delta"] == 77


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(("bad", "error"), [({"no_such_option": 1}, KeyError), ({"samples_save": "yes"}, TypeError),
                                            ({"api_useragent": "spoofed"}, RuntimeError)])
def test_a_refused_override_raises_and_keeps_nothing_even_with_restore_afterwards_false(opts, bad, error):
    with pytest.raises(error):
        with options_view.override_layer(opts, {"eta_noise_seed_delta": 9, **bad}, restore_afterwards=False):
            pytest.fail("the block must not run")
    assert opts.eta_noise_seed_delta == 0


def test_a_thread_started_through_the_helper_reads_the_job_a_plain_thread_the_base(opts):
    seen = {}
    with options_view.override_layer(opts, {"samples_format": "webp"}):
        start_thread(lambda: seen.update(helper=opts.samples_format)).join(TIMEOUT_S)
        plain = threading.Thread(target=lambda: seen.update(plain=opts.samples_format))
        plain.start()
        plain.join(TIMEOUT_S)
    assert seen == {"helper": "webp", "plain": "png"}


def test_two_jobs_on_two_threads_at_once_each_read_their_own(opts):
    """Both jobs are bound at the same moment (a barrier), then each reads repeatedly while the other sets."""
    barrier = threading.Barrier(2, timeout=TIMEOUT_S)
    seen, failures = {}, []

    def job(value):
        try:
            with options_view.override_layer(opts, {"eta_noise_seed_delta": value}):
                barrier.wait()
                reads = []
                for i in range(200):
                    opts.set("samples_filename_pattern", f"{value}-{i % 2}")
                    reads.append((opts.eta_noise_seed_delta, opts.samples_filename_pattern))
                barrier.wait()
                seen[value] = set(reads)
        except Exception as error:  # reported below: an assertion in a thread would go unseen
            failures.append(error)

    threads = [threading.Thread(target=job, args=(value,)) for value in (100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert failures == []
    assert seen == {100: {(100, "100-0"), (100, "100-1")}, 200: {(200, "200-0"), (200, "200-1")}}
    assert (opts.eta_noise_seed_delta, opts.samples_filename_pattern) == (0, "")


def test_set_and_save_writes_the_file_before_memory_changes(opts, tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    opts.save(str(config))

    def full_disk(self, filename, values):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(options.Options, "_write", full_disk)
    with pytest.raises(OSError, match="No space"):
        opts.set_and_save({"samples_format": "jpg"}, str(config))
    assert opts.samples_format == "png"
    assert json.loads(config.read_text())["samples_format"] == "png"


def test_when_set_and_save_writes_the_file_memory_still_holds_the_old_values(opts, tmp_path, monkeypatch):
    """No reader can see a value before it is persisted."""
    real_write, seen = options.Options._write, []

    def spying(self, filename, values):
        seen.append((values["samples_format"], self.layers.base["samples_format"]))
        return real_write(self, filename, values)

    monkeypatch.setattr(options.Options, "_write", spying)
    opts.set_and_save({"samples_format": "jpg"}, str(tmp_path / "config.json"))
    assert seen == [("jpg", "png")]
    assert opts.samples_format == "jpg"


def test_set_and_save_inside_a_job_changes_the_base_and_the_file_only(opts, tmp_path):
    config = tmp_path / "config.json"
    with options_view.override_layer(opts, {"eta_noise_seed_delta": 55}):
        opts.set_and_save({"samples_format": "jpg"}, str(config))
        assert opts.samples_format == "png", "the job keeps its own options"
    saved = json.loads(config.read_text())
    assert saved["samples_format"] == "jpg" and saved["eta_noise_seed_delta"] == 0
    assert opts.samples_format == "jpg"


def test_set_and_save_puts_memory_and_file_back_when_a_callback_fails(opts, tmp_path):
    config = tmp_path / "config.json"
    opts.save(str(config))

    def failing_callback():
        raise RuntimeError("could not load it")

    opts.onchange("sd_vae", failing_callback, call=False)
    with pytest.raises(RuntimeError, match="could not load it"):
        opts.set_and_save({"samples_format": "jpg", "sd_vae": "None"}, str(config))
    assert (opts.samples_format, opts.sd_vae) == ("png", "Automatic")
    saved = json.loads(config.read_text())
    assert (saved["samples_format"], saved["sd_vae"]) == ("png", "Automatic")


def test_set_and_save_checks_every_value_before_writing(opts, tmp_path):
    config = tmp_path / "config.json"
    with pytest.raises(TypeError):
        opts.set_and_save({"samples_format": "jpg", "samples_save": "yes"}, str(config))
    assert not config.exists() and opts.samples_format == "png"


def test_an_option_added_during_a_job_is_in_the_job_and_the_base(opts):
    with options_view.job_options(opts):
        opts.add_option("serena_test_option", options.OptionInfo(3, "a test option"))
        assert opts.serena_test_option == 3 and "serena_test_option" in opts.data
    assert opts.layers.base["serena_test_option"] == 3
