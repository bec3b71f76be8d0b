"""Checkpoints: discovery, titles and cached hashes, every layout loading and generating, .ckpt safety, switching."""

import copy
import gc
import hashlib
import json
import os
import sys
import threading
import time
import types
import weakref

import numpy as np
import pytest
import safetensors.torch
import torch

from modules import hashes, processing, safe, sd_models, sd_vae, shared
from modules.sd_models_detect import ARCHITECTURES, SD2_V, UnknownModelLayout, detect_architecture
from test.generation_job import Hooks, process_as_a_job, small_txt2img
from tools.golden.cases import save_checkpoint_vae
from tools.make_tiny_checkpoint import make_tiny_checkpoint


def txt2img(**kwargs) -> processing.Processed:
    args = {"prompt": "a red circle", "seed": 1234, "steps": 3, "width": 64, "height": 64, "sampler_name": "Euler",
            "do_not_save_samples": True, "do_not_save_grid": True, **kwargs}
    return processing.process_images(processing.StableDiffusionProcessingTxt2Img(**args))


def file_sha256(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def load(path: str):
    return sd_models.load_model(sd_models.CheckpointInfo(path))


@pytest.fixture(scope="module", autouse=True)
def default_model_restored_afterwards(engine_ready, tiny_checkpoint):
    """These tests load other checkpoints, and the default one with other flags or another VAE; the other modules
    expect the default tiny one back, loaded as it loads by default."""
    yield
    sd_models.list_models()
    sd_models.unload_model_weights()
    sd_models.reload_model_weights(info=sd_models.get_closet_checkpoint_match(os.path.basename(tiny_checkpoint)))


@pytest.fixture
def checkpoint_dir(tmp_path):
    """A --ckpt-dir of our own and a cache.json of our own, put back (and the list refreshed) afterwards."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    saved = shared.cmd_opts.ckpt_dir, hashes.cache_filename
    shared.cmd_opts.ckpt_dir, hashes.cache_filename = str(folder), str(tmp_path / "cache.json")
    try:
        yield folder
    finally:
        shared.cmd_opts.ckpt_dir, hashes.cache_filename = saved
        sd_models.list_models()


def test_discovery_titles_are_name_and_short_sha256(checkpoint_dir, tiny_checkpoint):
    first = make_tiny_checkpoint("sd15", str(checkpoint_dir / "first.safetensors"), seed=3)
    nested = make_tiny_checkpoint("sd15", str(checkpoint_dir / "sub" / "nested.safetensors"), seed=4)
    sd_models.list_models()
    titles = sd_models.checkpoint_tiles()
    assert f"first.safetensors [{file_sha256(first)[:10]}]" in titles
    assert f"sub/nested.safetensors [{file_sha256(nested)[:10]}]" in titles
    assert f"{os.path.basename(tiny_checkpoint)} [{file_sha256(tiny_checkpoint)[:10]}]" in titles
    assert not [title for title in titles if ".config" in title], "config folders are not checkpoints"
    info = sd_models.get_closet_checkpoint_match("first.safetensors")
    assert info.filename == os.path.abspath(first)
    for alias in (info.title, info.shorthash, info.sha256, "first"):
        assert sd_models.get_closet_checkpoint_match(alias) is info


def test_sha256_cached_by_path_and_rehashed_when_the_file_changes(checkpoint_dir, monkeypatch):
    path = make_tiny_checkpoint("sd15", str(checkpoint_dir / "changing.safetensors"), seed=5)
    hashed = []
    real_calculate = hashes.calculate_sha256
    monkeypatch.setattr(hashes, "calculate_sha256", lambda name: hashed.append(name) or real_calculate(name))

    sd_models.list_models()
    assert hashed.count(path) == 1
    with open(hashes.cache_filename, encoding="utf8") as file:
        entry = json.load(file)["hashes"][os.path.realpath(path)]
    assert entry["sha256"] == file_sha256(path)
    assert entry["size"] == os.path.getsize(path) and entry["mtime"] == os.path.getmtime(path)

    sd_models.list_models()
    assert hashed.count(path) == 1, "an unchanged file is not hashed again"

    old_hash = file_sha256(path)
    make_tiny_checkpoint("sd15", path, seed=6)
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))
    sd_models.list_models()
    assert hashed.count(path) == 2
    new_hash = file_sha256(path)
    assert new_hash != old_hash
    assert sd_models.get_closet_checkpoint_match("changing.safetensors").title == \
        f"changing.safetensors [{new_hash[:10]}]"

    os.utime(path, (stat.st_atime, stat.st_mtime + 20))
    assert hashes.sha256(path) == new_hash
    assert hashed.count(path) == 3, "a new mtime alone also invalidates the cached hash"


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_layout_is_detected_loads_and_generates(tiny_arch_checkpoints, arch):
    path = tiny_arch_checkpoints[arch]
    state_dict, metadata = sd_models.read_state_dict(path)
    assert detect_architecture(state_dict, metadata, path) is ARCHITECTURES[arch]
    del state_dict

    model = load(path)
    assert shared.sd_model is model
    assert model.architecture is ARCHITECTURES[arch]
    assert model.is_inpainting == arch.endswith("-inpaint")
    assert model.parameterization == ("v" if arch == "sd2-v" else "eps")
    assert model.sd_model_hash == file_sha256(path)[:10]
    result = txt2img()
    assert result.images[0].size == (64, 64)
    assert np.asarray(result.images[0]).std() > 0, "the image is not a flat fill"
    assert f"Model hash: {file_sha256(path)[:10]}" in result.info


def test_v_prediction_declared_by_a_sibling_yaml(tmp_path):
    path = make_tiny_checkpoint("sd2", str(tmp_path / "plain-sd2.safetensors"), seed=1)
    state_dict, metadata = sd_models.read_state_dict(path)
    assert detect_architecture(state_dict, metadata, path) is not SD2_V
    (tmp_path / "plain-sd2.yaml").write_text("model:\n  params:\n    parameterization: \"v\"\n", encoding="utf8")
    assert detect_architecture(state_dict, metadata, path) is SD2_V


def test_unknown_layout_is_a_clear_error_naming_the_file(checkpoint_dir, tiny_checkpoint):
    sd_models.reload_model_weights(info=sd_models.CheckpointInfo(tiny_checkpoint))
    odd = checkpoint_dir / "not-a-model.safetensors"
    safetensors.torch.save_file({"some.other.network.weight": torch.zeros(4, 4)}, str(odd))
    sd_models.list_models()
    info = sd_models.get_closet_checkpoint_match("not-a-model.safetensors")
    assert info is not None, "discovery lists the file; only loading it fails"
    with pytest.raises(UnknownModelLayout, match="not-a-model.safetensors"):
        sd_models.load_model(info)
    assert txt2img().images[0].size == (64, 64), "generation still works after the failed load"
    assert shared.sd_model.sd_checkpoint_info.filename == os.path.abspath(tiny_checkpoint)


def test_ckpt_loads_through_the_restricted_unpickler(tmp_path, monkeypatch):
    path = make_tiny_checkpoint("sd15", str(tmp_path / "tiny-pickled.ckpt"), seed=2, fmt="ckpt")
    used = []
    real_load = safe.load
    monkeypatch.setattr(safe, "load", lambda name: used.append(name) or real_load(name))
    model = load(path)
    assert used == [path]
    assert model.architecture is ARCHITECTURES["sd15"]
    assert txt2img().images[0].size == (64, 64)


class _RunsACommand:
    """Unpickling this would run a shell command that creates the marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_ckpt_is_refused_and_runs_nothing(tmp_path):
    path = make_tiny_checkpoint("sd15", str(tmp_path / "hostile.ckpt"), seed=2, fmt="ckpt")
    marker = tmp_path / "pwned"
    contents = torch.load(path, weights_only=True)
    contents["payload"] = _RunsACommand(str(marker))
    torch.save(contents, path)

    with pytest.raises(safe.CheckpointLoadError, match="hostile.ckpt"):
        safe.load(path)
    with pytest.raises(safe.CheckpointLoadError, match="hostile.ckpt"):  # A1111's name extensions call: not unsafe here
        safe.unsafe_torch_load(path, map_location="cpu", weights_only=False)
    with pytest.raises(safe.CheckpointLoadError, match="hostile.ckpt"):
        sd_models.read_state_dict(path)
    with pytest.raises(safe.CheckpointLoadError, match="hostile.ckpt"):
        load(path)
    assert not marker.exists()
    assert txt2img().images[0].size == (64, 64), "a refused checkpoint does not break generation"


@pytest.fixture
def fake_lightning(monkeypatch):
    """A stand-in pytorch_lightning module, so that a training callback can be pickled as real checkpoints hold it."""
    module_name = "pytorch_lightning.callbacks.model_checkpoint"
    modules = {name: types.ModuleType(name) for name in ("pytorch_lightning", "pytorch_lightning.callbacks",
                                                         module_name)}

    class ModelCheckpoint:
        def __init__(self):
            self.monitor = "val/loss_simple_ema"
            self.best_model_score = 0.25

    ModelCheckpoint.__module__ = module_name
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    modules[module_name].ModelCheckpoint = ModelCheckpoint
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return ModelCheckpoint


def test_ckpt_with_a_training_callback_record_loads(tmp_path, fake_lightning):
    path = make_tiny_checkpoint("sd15", str(tmp_path / "trained.ckpt"), seed=2, fmt="ckpt")
    contents = torch.load(path, weights_only=True)
    contents["callbacks"] = {fake_lightning: {"best_model_score": 0.25}}
    contents["checkpoint_callback"] = fake_lightning()
    torch.save(contents, path)
    with open(path, "rb") as file:
        assert b"pytorch_lightning.callbacks.model_checkpoint" in file.read()

    loaded = safe.load(path)
    assert safe.unsafe_torch_load(path, map_location="cpu").keys() == loaded.keys()
    record = loaded["checkpoint_callback"]
    assert isinstance(record, safe.TrainingCallbackRecord)
    assert record.monitor == "val/loss_simple_ema"
    model = load(path)
    assert model.architecture is ARCHITECTURES["sd15"]
    assert txt2img().images[0].size == (64, 64)


def test_switching_checkpoints_frees_the_previous_model(tmp_path, monkeypatch):
    first = sd_models.CheckpointInfo(make_tiny_checkpoint("sd15", str(tmp_path / "a.safetensors"), seed=7))
    second = sd_models.CheckpointInfo(make_tiny_checkpoint("sd15", str(tmp_path / "b.safetensors"), seed=8))
    refs: dict[str, weakref.ref] = {}
    alive_when_reading = []
    real_read = sd_models.read_state_dict

    def read_and_note_what_is_alive(filename, *args):
        gc.collect()
        alive_when_reading.append([name for name, ref in refs.items() if ref() is not None])
        return real_read(filename, *args)

    monkeypatch.setattr(sd_models, "read_state_dict", read_and_note_what_is_alive)

    refs["a"] = weakref.ref(sd_models.reload_model_weights(info=first))
    refs["b"] = weakref.ref(sd_models.reload_model_weights(info=second))
    assert refs["a"]() is None and refs["b"]() is shared.sd_model
    refs["a again"] = weakref.ref(sd_models.reload_model_weights(info=first))
    gc.collect()
    assert refs["b"]() is None
    assert refs["a again"]() is shared.sd_model
    assert shared.opts.sd_model_checkpoint == first.title
    assert alive_when_reading == [[], [], []], "the previous model is freed before the next one is read"


def test_no_hashing_lists_and_loads_without_a_hash_and_the_infotext_has_none(checkpoint_dir, monkeypatch):
    make_tiny_checkpoint("sd15", str(checkpoint_dir / "unhashed.safetensors"), seed=7)
    monkeypatch.setattr(shared.cmd_opts, "no_hashing", True)
    hashed = []
    monkeypatch.setattr(hashes, "calculate_sha256", lambda name: hashed.append(name) or "0" * 64)
    sd_models.list_models()
    info = sd_models.get_closet_checkpoint_match("unhashed.safetensors")
    assert info.title == "unhashed.safetensors" and info.sha256 is None
    model = sd_models.reload_model_weights(info=info)
    assert model.sd_model_hash is None
    assert "Model hash" not in txt2img().info and "Model: unhashed" in txt2img().info
    assert hashed == [], "nothing hashed under --no-hashing"


def test_no_hashing_still_uses_a_remembered_hash(checkpoint_dir, monkeypatch):
    path = make_tiny_checkpoint("sd15", str(checkpoint_dir / "remembered.safetensors"), seed=8)
    sd_models.list_models()
    monkeypatch.setattr(shared.cmd_opts, "no_hashing", True)
    model = sd_models.reload_model_weights(info=sd_models.get_closet_checkpoint_match("remembered.safetensors"))
    assert model.sd_model_hash == file_sha256(path)[:10]
    assert f"Model hash: {file_sha256(path)[:10]}" in txt2img().info


def big_unhashed_checkpoint(checkpoint_dir, monkeypatch, seed: int) -> tuple[str, sd_models.CheckpointInfo]:
    path = make_tiny_checkpoint("sd15", str(checkpoint_dir / "big.safetensors"), seed=seed)
    monkeypatch.setattr(sd_models, "_EAGER_HASH_LIMIT", 0)  # as a file too large to hash while listing
    sd_models.list_models()
    info = sd_models.get_closet_checkpoint_match("big.safetensors")
    assert info.sha256 is None and info.title == "big.safetensors"
    return path, info


def test_a_load_does_not_wait_for_the_hash_and_the_first_image_names_it(checkpoint_dir, monkeypatch):
    path, info = big_unhashed_checkpoint(checkpoint_dir, monkeypatch, seed=9)
    hashing, sampled, seen = threading.Event(), threading.Event(), {}
    real_read, real_calculate, real_decode = sd_models.read_state_dict, hashes.calculate_sha256, \
        processing.decode_latent_batch

    def read_state_dict(filename, *args):
        assert hashing.wait(10), "the hash starts before the read"
        return real_read(filename, *args)

    def calculate_sha256(filename):
        seen["hash thread's nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        hashing.set()
        assert sampled.wait(60), "the hash ends once the first image is sampled"
        time.sleep(0.2)  # an infotext that did not wait for the hash would be written in this time
        return real_calculate(filename)

    def decode_latent_batch(*args, **kwargs):
        seen["hashed before the image was sampled"] = info.sha256 is not None
        sampled.set()
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(sd_models, "read_state_dict", read_state_dict)
    monkeypatch.setattr(hashes, "calculate_sha256", calculate_sha256)
    monkeypatch.setattr(processing, "decode_latent_batch", decode_latent_batch)
    sd_models.reload_model_weights(info=info)
    assert not sampled.is_set() and info.sha256 is None, "the load returned with the hash still running"
    assert shared.opts.sd_model_checkpoint == "big.safetensors"

    copied = copy.deepcopy(info)  # as a deep copy of p copies it
    result = txt2img()
    short = file_sha256(path)[:10]
    assert copied.wait_for_hash() == short, "a copy taken while the hash ran gets it too"
    assert seen == {"hash thread's nice": 19, "hashed before the image was sampled": False}, \
        "the hash gives way to the load and the sampling; it ended after the image was sampled"
    assert f"Model hash: {short}" in result.info and result.sd_model_hash == short
    title = f"big.safetensors [{short}]"
    assert info.title == shared.opts.sd_model_checkpoint == title, "A1111's title once the hash is known"
    tiles = sd_models.checkpoint_tiles()
    assert tiles.count(title) == 1 and "big.safetensors" not in tiles, "retitled in place, not listed twice"
    assert sd_models.get_closet_checkpoint_match(title) is sd_models.get_closet_checkpoint_match(short) is info


def test_an_infotext_an_extension_writes_before_the_sampling_names_the_hash_too(checkpoint_dir, monkeypatch):
    path, info = big_unhashed_checkpoint(checkpoint_dir, monkeypatch, seed=16)
    real_calculate = hashes.calculate_sha256

    def calculate_sha256(filename):
        time.sleep(0.3)  # still hashing when the generation starts
        return real_calculate(filename)

    monkeypatch.setattr(hashes, "calculate_sha256", calculate_sha256)
    sd_models.reload_model_weights(info=info)
    written = []
    process_as_a_job(small_txt2img(Hooks(process=lambda p: written.append(
        processing.create_infotext(p, p.all_prompts, p.all_seeds, p.all_subseeds)))))
    assert f"Model hash: {file_sha256(path)[:10]}" in written[0]


def test_an_interrupted_generation_does_not_wait_for_the_hash(checkpoint_dir, monkeypatch):
    _, info = big_unhashed_checkpoint(checkpoint_dir, monkeypatch, seed=11)
    released = threading.Event()
    real_calculate, real_decode = hashes.calculate_sha256, processing.decode_latent_batch

    def calculate_sha256(filename):
        released.wait(60)
        return real_calculate(filename)

    def decode_latent_batch(*args, **kwargs):
        shared.state.interrupt()  # as the Interrupt button, once the first batch is sampled
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(hashes, "calculate_sha256", calculate_sha256)
    monkeypatch.setattr(processing, "decode_latent_batch", decode_latent_batch)
    monkeypatch.setattr(shared.state.current(), "interrupted", False)  # and not interrupted after the test
    sd_models.reload_model_weights(info=info)
    try:
        started = time.perf_counter()
        result = txt2img(n_iter=2)
        assert time.perf_counter() - started < 30, "returned without waiting for the hash"
        assert len(result.images) == 1 and "Model hash" not in result.info
    finally:
        released.set()
    assert info.wait_for_hash() is not None


def test_a_refiner_loaded_for_the_first_time_is_named_with_its_hash(checkpoint_dir, monkeypatch, tiny_checkpoint):
    path, info = big_unhashed_checkpoint(checkpoint_dir, monkeypatch, seed=15)
    sd_models.reload_model_weights(info=sd_models.get_closet_checkpoint_match(os.path.basename(tiny_checkpoint)))
    real_calculate = hashes.calculate_sha256

    def calculate_sha256(filename):
        time.sleep(0.5)  # still hashing when the refined image is decoded
        return real_calculate(filename)

    monkeypatch.setattr(hashes, "calculate_sha256", calculate_sha256)
    refined = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
        prompt="a red circle", seed=3, steps=4, width=64, height=64, sampler_name="Euler", do_not_save_samples=True,
        do_not_save_grid=True, refiner_checkpoint="big.safetensors", refiner_switch_at=0.5))
    assert f"Refiner: big [{file_sha256(path)[:10]}]" in refined.infotexts[0]


def test_a_checkpoint_replaced_on_disk_is_hashed_again_at_its_next_load(checkpoint_dir, monkeypatch):
    path = make_tiny_checkpoint("sd15", str(checkpoint_dir / "replaced.safetensors"), seed=12)
    sd_models.list_models()
    info = sd_models.get_closet_checkpoint_match("replaced.safetensors")
    sd_models.reload_model_weights(info=info)
    assert f"Model hash: {file_sha256(path)[:10]}" in txt2img().info
    sd_models.unload_model_weights()
    make_tiny_checkpoint("sd15", path, seed=13)
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))
    sd_models.reload_model_weights(info=info)  # the same entry, the list not refreshed
    new_hash = file_sha256(path)[:10]
    assert f"Model hash: {new_hash}" in txt2img().info
    assert info.title == shared.opts.sd_model_checkpoint == f"replaced.safetensors [{new_hash}]"


def test_a_replaced_file_that_cannot_be_hashed_again_loses_its_old_hash(checkpoint_dir, monkeypatch):
    path = make_tiny_checkpoint("sd15", str(checkpoint_dir / "replaced.safetensors"), seed=17)
    sd_models.list_models()
    info = sd_models.get_closet_checkpoint_match("replaced.safetensors")
    old_hash = info.shorthash
    make_tiny_checkpoint("sd15", path, seed=18)
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))

    def unreadable(filename):
        raise PermissionError(13, "Permission denied", filename)

    monkeypatch.setattr(hashes, "calculate_sha256", unreadable)
    sd_models.reload_model_weights(info=info)
    infotext = txt2img().info
    assert "Model hash" not in infotext and old_hash not in infotext, "not the hash of the file it replaced"
    assert info.title == shared.opts.sd_model_checkpoint == "replaced.safetensors"
    assert "replaced.safetensors" in sd_models.checkpoint_tiles()


def test_a_listing_replaces_the_lists_only_once_it_is_complete(checkpoint_dir, monkeypatch):
    make_tiny_checkpoint("sd15", str(checkpoint_dir / "listed.safetensors"), seed=14)
    sd_models.list_models()
    before = sd_models.checkpoint_tiles()
    seen_while_listing = []
    real_read_metadata = sd_models.read_metadata

    def read_metadata(filename):
        seen_while_listing.append((sd_models.checkpoint_tiles(), sd_models.select_checkpoint()))
        return real_read_metadata(filename)

    monkeypatch.setattr(sd_models, "read_metadata", read_metadata)
    sd_models.list_models()
    selected = sd_models.select_checkpoint()
    assert seen_while_listing and all(tiles == before and checkpoint is not None and
                                      checkpoint.filename == selected.filename
                                      for tiles, checkpoint in seen_while_listing), \
        "a request during a refresh sees the list as it was, and the same selected checkpoint"
    assert sd_models.checkpoint_tiles() == before


def test_a_checkpoint_that_cannot_be_hashed_loads_and_generates_without_a_model_hash(checkpoint_dir, monkeypatch,
                                                                                      caplog):
    _, info = big_unhashed_checkpoint(checkpoint_dir, monkeypatch, seed=10)

    def unreadable(filename):
        raise PermissionError(13, "Permission denied", filename)

    monkeypatch.setattr(hashes, "calculate_sha256", unreadable)
    model = sd_models.reload_model_weights(info=info)
    result = txt2img()
    assert "Model hash" not in result.info and "Model: big" in result.info
    assert model.sd_model_hash is None and info.title == "big.safetensors"
    assert "Could not compute the sha256" in caplog.text and "Permission denied" in caplog.text


def spatial_conv_weights(*modules: torch.nn.Module) -> list[torch.Tensor]:
    return [layer.weight for module in modules for layer in module.modules()
            if isinstance(layer, torch.nn.Conv2d) and layer.kernel_size != (1, 1)]


def test_opt_channelslast_lays_the_convolutions_out_channels_last_and_draws_the_same_image(tiny_checkpoint,
                                                                                        monkeypatch, tmp_path):
    default_model = load(tiny_checkpoint)
    assert all(weight.is_contiguous() for weight in spatial_conv_weights(default_model.unet, default_model.vae))
    default_image = np.asarray(txt2img().images[0], dtype=np.int16)
    del default_model

    monkeypatch.setattr(shared.cmd_opts, "opt_channelslast", True)
    model = load(tiny_checkpoint)
    weights = spatial_conv_weights(model.unet, model.vae)
    assert weights and all(weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
                           for weight in weights)
    image = np.asarray(txt2img().images[0], dtype=np.int16)
    assert np.abs(image - default_image).max() <= 1, "the same image (the layout changes only the kernels' order)"

    sd_vae.reload_vae_weights(model, vae_file=save_checkpoint_vae(tiny_checkpoint, str(tmp_path / "o.vae.safetensors")))
    assert model.vae is not model.base_vae
    assert all(weight.is_contiguous(memory_format=torch.channels_last) for weight in spatial_conv_weights(model.vae))
