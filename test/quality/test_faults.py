"""M12 faults: nothing is lost. A full output disk still returns the generated images (the error in the info and
the log); a full data disk on POST /options changes nothing; temporary files an interrupted save left are removed at
the next start."""

import errno
import json
import logging
import threading

import pytest

from modules import images, options, shared
from test.api_client import in_process_api
from test.smoke.api_helpers import from_base64


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_output_disk_still_returns_the_images_and_says_so(sd_model, monkeypatch, caplog):
    monkeypatch.setattr(images, "_save_atomically", full_disk)
    response = in_process_api().post("/sdapi/v1/txt2img", json={"prompt": "a red circle", "steps": 2, "width": 64,
                                                                "height": 64, "batch_size": 2, "save_images": True})
    assert response.status_code == 200
    body = response.json()
    assert len(body["images"]) == 3 and from_base64(body["images"][1]).size == (64, 64), "the grid and both images"
    assert "Images not saved in" in json.loads(body["info"])["comments"]
    assert "No space left on device" in json.loads(body["info"])["comments"]
    assert any("Could not save an image" in record.message and record.levelno == logging.ERROR
               for record in caplog.records)


def test_a_full_data_disk_on_post_options_changes_nothing(monkeypatch, tmp_path):
    config = tmp_path / "config.json"
    monkeypatch.setattr(shared, "config_filename", str(config))
    shared.opts.save(str(config))
    before_memory, before_disk = dict(shared.opts.data), config.read_text()
    monkeypatch.setattr(options.os, "fsync", full_disk)
    response = in_process_api().post("/sdapi/v1/options", json={"jpeg_quality": 42})
    assert response.status_code == 507
    assert response.json()["detail"] == f"settings not saved to {config}: No space left on device; nothing changed"
    assert shared.opts.data == before_memory and config.read_text() == before_disk
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json"], "no temporary file left"


def test_a_failing_onchange_callback_is_not_reported_as_a_full_disk(monkeypatch, tmp_path):
    config = tmp_path / "config.json"
    monkeypatch.setattr(shared, "config_filename", str(config))
    shared.opts.save(str(config))
    before_memory, before_disk = dict(shared.opts.data), json.loads(config.read_text())

    def callback_fails():
        raise FileNotFoundError(errno.ENOENT, "an extension's file is gone")

    monkeypatch.setattr(shared.opts.data_labels["jpeg_quality"], "onchange", callback_fails)
    with pytest.raises(FileNotFoundError):
        shared.opts.set_and_save({"jpeg_quality": 42}, str(config))
    assert shared.opts.data == before_memory and json.loads(config.read_text()) == before_disk


def test_temporary_files_of_an_interrupted_save_are_removed_at_load(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"jpeg_quality": 33}))
    orphans = [tmp_path / ".config.json.abc123.tmp", tmp_path / ".config.json.x.tmp"]
    for orphan in orphans:
        orphan.write_text("{half")
    unrelated = tmp_path / ".other.json.abc.tmp"
    unrelated.write_text("kept")
    opts = options.Options(dict(shared.opts.data_labels), set())
    opts.load(str(config))
    assert opts.jpeg_quality == 33
    assert not any(orphan.exists() for orphan in orphans) and unrelated.exists()


@pytest.mark.parametrize("comments", ["", "Lora not found: x\n"])
def test_the_info_carries_the_comments_as_the_ui_shows_them(sd_model, comments):
    from modules import processing

    p = processing.StableDiffusionProcessingTxt2Img(prompt="x", steps=1, width=64, height=64)
    if comments:
        p.comment(comments.strip())
    assert json.loads(processing.Processed(p, []).js())["comments"] == comments


def test_a_slow_onchange_holds_up_no_other_save_and_its_failure_keeps_the_other_saves(monkeypatch, tmp_path):
    config = tmp_path / "config.json"
    shared.opts.save(str(config))
    quality_before, lossless_before = shared.opts.jpeg_quality, shared.opts.webp_lossless
    started, release = threading.Event(), threading.Event()

    def slow_failing_callback():  # as a checkpoint load waits for the running generation, then fails
        started.set()
        assert release.wait(30)
        raise RuntimeError("the load failed")

    monkeypatch.setattr(shared.opts.data_labels["jpeg_quality"], "onchange", slow_failing_callback)
    failures = []

    def change_quality():
        try:
            shared.opts.set_and_save({"jpeg_quality": 42}, str(config))
        except RuntimeError as error:
            failures.append(error)

    worker = threading.Thread(target=change_quality)
    worker.start()
    assert started.wait(30)
    shared.opts.set_and_save({"webp_lossless": not lossless_before}, str(config))  # would hang with the save lock held
    assert json.loads(config.read_text())["jpeg_quality"] == 42, "the file held the value before its callback ran"
    release.set()
    worker.join(30)
    assert [str(error) for error in failures] == ["the load failed"]
    on_disk = json.loads(config.read_text())
    assert shared.opts.jpeg_quality == on_disk["jpeg_quality"] == quality_before
    assert shared.opts.webp_lossless == on_disk["webp_lossless"] == (not lossless_before)
    shared.opts.set_and_save({"webp_lossless": lossless_before}, str(config))
