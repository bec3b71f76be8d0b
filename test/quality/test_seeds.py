"""A1111 seed semantics end to end: batches, variation seeds, seed resize, ENSD, random seeds, repeatability."""

import numpy as np
import pytest
import torch

from modules import processing, rng, shared


def txt2img(**kwargs) -> processing.Processed:
    args = {"prompt": "a red circle", "seed": 1234, "steps": 4, "width": 64, "height": 64, "sampler_name": "Euler a",
            "do_not_save_samples": True, "do_not_save_grid": True, **kwargs}
    return processing.process_images(processing.StableDiffusionProcessingTxt2Img(**args))


def pixels(result: processing.Processed, index: int = 0) -> np.ndarray:
    return np.asarray(result.images[index], dtype=np.int16)


def test_same_call_twice_gives_identical_image(sd_model):
    first, second = txt2img(), txt2img()
    assert np.array_equal(pixels(first), pixels(second))
    assert first.info == second.info


@pytest.mark.parametrize("sampler_name", ["Euler a", "Euler", "DPM++ 2M SDE"])
def test_batch_image_i_equals_a_single_generation_with_seed_plus_i(sd_model, sampler_name):
    # Same noise, same sampling: a batch may only differ from the single run by float reordering (a batched matmul
    # picks other kernels on some CPUs), a few pixels by a level, while another seed changes the whole image.
    batch = txt2img(batch_size=2, sampler_name=sampler_name)
    assert batch.all_seeds == [1234, 1235]
    for i, seed in enumerate(batch.all_seeds):
        single = txt2img(seed=seed, sampler_name=sampler_name)
        rounding = np.abs(pixels(batch, i) - pixels(single))
        assert rounding.max() <= 2 and rounding.mean() < 0.05, f"image {i} of the batch"
    other_seed = np.abs(pixels(batch, 0) - pixels(batch, 1))
    assert other_seed.mean() > 20


def test_variation_strength_zero_equals_no_variation(sd_model):
    plain = txt2img()
    zero = txt2img(subseed=999, subseed_strength=0.0)
    assert np.array_equal(pixels(plain), pixels(zero))
    assert "Variation seed" not in zero.info


def test_variation_strength_changes_the_image_gradually(sd_model):
    plain = txt2img(sampler_name="Euler")
    slight = txt2img(sampler_name="Euler", subseed=999, subseed_strength=0.1)
    strong = txt2img(sampler_name="Euler", subseed=999, subseed_strength=0.9)
    assert not np.array_equal(pixels(plain), pixels(slight))
    assert np.abs(pixels(plain) - pixels(slight)).mean() < np.abs(pixels(plain) - pixels(strong)).mean()
    assert "Variation seed: 999, Variation seed strength: 0.1" in slight.info
    assert slight.all_seeds == [1234] and slight.all_subseeds == [999]


def test_variation_seed_varies_within_a_batch(sd_model):
    batch = txt2img(batch_size=2, subseed=999, subseed_strength=0.5)
    assert batch.all_seeds == [1234, 1234], "with a variation, A1111 keeps the seed and steps the subseed"
    assert batch.all_subseeds == [999, 1000]
    assert not np.array_equal(pixels(batch, 0), pixels(batch, 1))


def test_seed_resize_places_the_old_size_noise_in_the_centre():
    seed = 77
    at_128 = rng.ImageRNG((4, 16, 16), [seed]).first()
    resized_down = rng.ImageRNG((4, 8, 8), [seed], seed_resize_from_h=128, seed_resize_from_w=128).first()
    assert torch.equal(resized_down, at_128[:, :, 4:12, 4:12])
    at_32 = rng.ImageRNG((4, 4, 4), [seed]).first()
    resized_up = rng.ImageRNG((4, 8, 8), [seed], seed_resize_from_h=32, seed_resize_from_w=32).first()
    assert torch.equal(resized_up[:, :, 2:6, 2:6], at_32)
    plain = rng.ImageRNG((4, 8, 8), [seed]).first()
    assert not torch.equal(resized_up[:, :, 2:6, 2:6], plain[:, :, 2:6, 2:6])


def test_seed_resize_changes_the_image_but_keeps_its_size(sd_model):
    plain = txt2img(sampler_name="Euler")
    resized = txt2img(sampler_name="Euler", seed_resize_from_w=128, seed_resize_from_h=128)
    assert resized.images[0].size == plain.images[0].size == (64, 64)
    assert not np.array_equal(pixels(plain), pixels(resized))
    assert "Seed resize from: 128x128" in resized.info


def test_ensd_changes_an_ancestral_sampler_but_not_euler(sd_model, monkeypatch):
    before = {name: txt2img(sampler_name=name) for name in ("Euler a", "Euler")}
    monkeypatch.setitem(shared.opts.data, "eta_noise_seed_delta", 31337)
    after = {name: txt2img(sampler_name=name) for name in ("Euler a", "Euler")}
    assert not np.array_equal(pixels(before["Euler a"]), pixels(after["Euler a"]))
    assert np.array_equal(pixels(before["Euler"]), pixels(after["Euler"]))
    assert "ENSD: 31337" in after["Euler a"].info
    assert "ENSD" not in after["Euler"].info


def test_random_seed_is_fixed_and_reported(sd_model):
    result = txt2img(seed=-1, batch_size=2)
    seed = result.seed
    assert isinstance(seed, int) and seed >= 0
    assert result.all_seeds == [seed, seed + 1]
    assert f"Seed: {seed}," in result.info
    again = txt2img(seed=seed, batch_size=2)
    assert np.array_equal(pixels(result, 0), pixels(again, 0))
    assert np.array_equal(pixels(result, 1), pixels(again, 1))


def test_noise_drawn_on_the_cpu_is_given_on_the_models_device():
    """randn_source CPU on a GPU: drawn by the CPU's generators (the same seeds everywhere), then moved to where the
    model runs (the meta device stands in for a GPU here)."""
    drawn_on_cpu = rng.ImageRNG((4, 8, 8), [1, 2], device=torch.device("cpu"))
    moved = rng.ImageRNG((4, 8, 8), [1, 2], device=torch.device("cpu"), to_device=torch.device("meta"))
    first, later = moved.next(), moved.next()
    assert first.device.type == later.device.type == "meta" and first.shape == later.shape == (2, 4, 8, 8)
    assert drawn_on_cpu.next().device.type == "cpu" and moved.generators[0].device.type == "cpu"


def test_the_sde_samplers_brownian_noise_is_drawn_where_the_generation_draws_its_noise(monkeypatch):
    """DPM++ SDE's Brownian tree (torchsde, also under diffusers' scheduler; processing installs the draw) follows
    randn_source as A1111 makes it: with "CPU" it draws on the CPU whatever device the tree is on (the meta device
    standing in for a GPU, where a generator cannot even be made), and gives the noise there."""
    from torchsde._brownian import brownian_interval

    monkeypatch.setitem(shared.opts.data, "randn_source", "CPU")
    elsewhere = brownian_interval._randn((2, 3), torch.float16, torch.device("meta"), 5)
    assert elsewhere.device.type == "meta" and elsewhere.dtype == torch.float16
    drawn_on_the_cpu = torch.randn((2, 3), generator=torch.Generator().manual_seed(5))
    assert torch.equal(brownian_interval._randn((2, 3), torch.float32, torch.device("cpu"), 5), drawn_on_the_cpu)
