"""The embedded demo model (tools/demo_model): its data set, its pixel judge, its export, and - through the real
webui pipeline - that the committed checkpoint draws what the prompt asks for, so broken CFG or negative prompts fail.
"""

import os
import re
from itertools import product

import numpy as np
import pytest
import safetensors
import torch

from modules import sd_models
from modules.sd_model_diffusers import DiffusersStableDiffusion, config_dir_for
from modules.sd_models_detect import SD15, detect_architecture
from tools.demo_model import export, judge, shapes
from tools.demo_model.configs import CONFIG_NAME, demo_configs
from tools.demo_model.evaluate import DEFAULT_CHECKPOINT, generate
from tools.demo_model.text_tokens import caption_token_ids
from tools.demo_model.train_diffusion import encode_text, new_models
from tools.demo_model.train_vae import new_vae
from tools.tiny_configs import CONFIG_FILES

CAPTION = re.compile(r"^an? (?:(small|large) )?(?:(\w+) )?(circle|square|triangle)(?: on a (black|white) background)?$")
MAX_CHECKPOINT_BYTES = 30_000_000


# --- the data set ---------------------------------------------------------------------------------------------------

def test_dataset_is_deterministic_from_its_seed():
    first, again, other = shapes.make_dataset(40, seed=5), shapes.make_dataset(40, seed=5), shapes.make_dataset(40, 6)
    assert np.array_equal(first.images, again.images) and first.captions == again.captions
    assert not np.array_equal(first.images, other.images)


def test_dataset_covers_every_shape_colour_and_background():
    dataset = shapes.make_dataset(1500, seed=0)
    seen = {(s.shape, s.colour, s.background) for s in dataset.specs}
    assert seen == set(product(shapes.SHAPES, shapes.COLOURS, shapes.BACKGROUNDS))
    sizes = [s.size for s in dataset.specs]
    assert min(sizes) < shapes.SMALL_UP_TO and max(sizes) > shapes.LARGE_FROM


def test_captions_are_plain_english_and_mostly_describe_the_image():
    dataset = shapes.make_dataset(3000, seed=1)
    named, wrong = {"colour": 0, "shape": 0, "background": 0}, {"colour": 0, "shape": 0, "background": 0}
    for caption, spec in zip(dataset.captions, dataset.specs):
        match = CAPTION.match(caption)
        assert match, caption
        size, colour, shape, background = match.groups()
        assert size in (None, spec.size_word), "size words are never wrong"
        assert colour in (None, *shapes.COLOURS)
        for attribute, word in (("colour", colour), ("shape", shape), ("background", background)):
            if word is not None:
                named[attribute] += 1
                wrong[attribute] += word != getattr(spec, attribute)
    assert 0.8 < named["colour"] / len(dataset.captions) < 0.95
    assert 0.75 < named["background"] / len(dataset.captions) < 0.95
    for attribute in named:
        assert 0.15 < wrong[attribute] / named[attribute] < 0.25, f"about one {attribute} word in five is wrong"
    assert shapes.caption_for("square", "blue", "white", "small") == "a small blue square on a white background"
    assert shapes.caption_for("circle", "orange", "black") == "an orange circle on a black background"


def test_wrong_caption_words_leave_the_images_as_they_were(monkeypatch):
    noisy = shapes.make_dataset(200, seed=0)
    monkeypatch.setattr(shapes, "WRONG_WORD_PROBABILITY", 0.0)
    clean = shapes.make_dataset(200, seed=0)
    assert np.array_equal(noisy.images, clean.images) and noisy.specs == clean.specs
    assert noisy.captions != clean.captions
    assert all(caption in (shapes.caption_for(s.shape, c, b, z) for c in ("", s.colour) for b in ("", s.background)
                           for z in ("", s.size_word)) for caption, s in zip(clean.captions, clean.specs))


def test_rendered_shapes_have_their_colour_on_their_background():
    spec = shapes.ShapeSpec("square", "green", "white", size=0.5, centre_x=0.5, centre_y=0.5)
    image, coverage = shapes.render(spec)
    assert image.shape == (shapes.RESOLUTION, shapes.RESOLUTION, 3)
    assert tuple(image[16, 16]) == shapes.COLOURS["green"] and tuple(image[0, 0]) == shapes.BACKGROUNDS["white"]
    assert coverage.sum() == pytest.approx((0.5 * shapes.RESOLUTION) ** 2, rel=0.05)


# --- the pixel judge ------------------------------------------------------------------------------------------------

def test_judge_reads_every_rendered_training_image():
    dataset = shapes.make_dataset(1000, seed=2)
    for image, spec in zip(dataset.images, dataset.specs):
        verdict = judge.judge(image)
        assert (verdict.colour, verdict.shape, verdict.background) == (spec.colour, spec.shape, spec.background), \
            (spec, verdict)


def test_judge_sees_no_foreground_on_a_plain_image():
    verdict = judge.judge(np.full((32, 32, 3), 250, dtype=np.uint8))
    assert verdict.background == "white" and verdict.colour is None and verdict.shape is None


@pytest.mark.parametrize(("ratio", "shape"), [(0.99, "square"), (0.9, "square"), (0.78, "circle"), (0.52, "triangle")])
def test_shape_from_fill_ratio(ratio, shape):
    assert judge.shape_from_fill_ratio(ratio) == shape


# --- text input and export ------------------------------------------------------------------------------------------

def test_caption_tokens_have_the_webui_sd1_layout():
    ids = caption_token_ids(["a red circle on a black background", ""])
    assert ids.shape == (2, 77)
    assert ids[0, 0] == 49406 and ids[1, 0] == 49406
    assert (ids[1, 1:] == 49407).all(), "the empty caption is start + end tokens padded with the end token"
    content = ids[0, 1:][ids[0, 1:] != 49407]
    assert len(content) == 7 and (ids[0, 1 + len(content):] == 49407).all()


def test_export_round_trips_through_the_webui_loader(tmp_path):
    models, vae = new_models(seed=3), new_vae(seed=4)
    path = str(tmp_path / "demo.safetensors")
    export.export_model(models.unet.state_dict(), vae.state_dict(), models.text_encoder.state_dict(),
                        vae_scaling_factor=0.75, training_seed=3, out=path, config_folder=str(tmp_path / "demo.config"))

    state_dict, metadata = sd_models.read_state_dict(path)
    assert metadata == export.checkpoint_metadata(3)
    assert detect_architecture(state_dict, metadata, path) is SD15
    assert config_dir_for(path, SD15, metadata) == str(tmp_path / "demo.config")
    loaded = DiffusersStableDiffusion(state_dict, SD15, str(tmp_path / "demo.config"), torch.device("cpu"))
    assert loaded.vae.config.scaling_factor == 0.75 and loaded.native_size == shapes.RESOLUTION
    info = sd_models.CheckpointInfo(path)
    assert info.native_resolution == (shapes.RESOLUTION, shapes.RESOLUTION)
    assert info.example_prompt == export.config_folder_metadata()["serena.example_prompt"]
    for original, roundtrip in ((models.unet, loaded.unet), (vae, loaded.vae), (models.text_encoder,
                                                                                 loaded.text_encoder)):
        expected = {k: v.half().float() for k, v in original.state_dict().items() if v.is_floating_point()}
        actual = roundtrip.state_dict()
        assert set(expected) <= set(actual)
        assert all(torch.equal(actual[k].float(), v) for k, v in expected.items())
    prompts = ["a blue triangle on a white background", ""]
    with torch.no_grad():
        trained_input = encode_text(loaded.text_encoder, caption_token_ids(prompts))
    assert torch.equal(loaded.get_learned_conditioning(prompts), trained_input), \
        "the text encoder sees at inference exactly what it was trained on"


# --- the committed checkpoint, through the real pipeline -----------------------------------------------------------

def test_committed_checkpoint_file_and_config_folder():
    assert os.path.getsize(DEFAULT_CHECKPOINT) <= MAX_CHECKPOINT_BYTES
    with safetensors.safe_open(DEFAULT_CHECKPOINT, framework="pt") as f:
        metadata = f.metadata()
    assert metadata["serena.config"] == CONFIG_NAME
    assert metadata["serena.native_resolution"] == f"{shapes.RESOLUTION}x{shapes.RESOLUTION}"
    assert metadata["serena.data_version"] == shapes.DATA_VERSION
    assert metadata["serena.training_seed"].isdigit()
    folder = config_dir_for(DEFAULT_CHECKPOINT, SD15, metadata)
    assert folder == export.DEFAULT_CONFIG_FOLDER
    assert all(os.path.isfile(os.path.join(folder, CONFIG_FILES[name])) for name in demo_configs())
    info = sd_models.CheckpointInfo(DEFAULT_CHECKPOINT)
    assert info.native_resolution == (shapes.RESOLUTION, shapes.RESOLUTION)
    assert info.example_prompt == export.config_folder_metadata()["serena.example_prompt"]


@pytest.fixture(scope="module")
def demo_model():
    """The committed checkpoint, found in the embedded models folder and loaded as shared.sd_model."""
    from modules import devices, shared

    devices.init(shared.cmd_opts)
    previous = shared.sd_model.sd_checkpoint_info if shared.sd_model is not None else None
    sd_models.list_models()
    info = sd_models.get_closet_checkpoint_match(os.path.basename(DEFAULT_CHECKPOINT))
    assert info is not None and os.path.samefile(info.filename, DEFAULT_CHECKPOINT)
    yield sd_models.reload_model_weights(info=info)
    if previous is not None:
        sd_models.reload_model_weights(info=previous)
    else:
        sd_models.unload_model_weights()


def img2img(init_image, prompt: str, strength: float, seed: int):
    from modules import processing

    p = processing.StableDiffusionProcessingImg2Img(
        init_images=[init_image], prompt=prompt, denoising_strength=strength, seed=seed, steps=20, cfg_scale=7.0,
        width=shapes.RESOLUTION, height=shapes.RESOLUTION, do_not_save_samples=True, do_not_save_grid=True)
    return processing.process_images(p).images[0]


# One prompt per colour, over both backgrounds and all shapes.
QUALITY_PROMPTS = [("red", "circle", "black"), ("green", "square", "white"), ("blue", "triangle", "black"),
                   ("yellow", "circle", "white"), ("purple", "square", "black"), ("orange", "triangle", "white")]
QUALITY_SEEDS = (11, 12)


@pytest.mark.parametrize("sampler_name", ["Euler a", "DPM++ 2M"])
@pytest.mark.parametrize(("colour", "shape", "background"), QUALITY_PROMPTS)
def test_generated_foreground_has_the_prompted_colour(demo_model, sampler_name, colour, shape, background):
    for seed in QUALITY_SEEDS:
        verdict = judge.judge(generate(shapes.caption_for(shape, colour, background), seed, 7.0,
                                       sampler_name=sampler_name))
        assert (verdict.colour, verdict.background) == (colour, background), (seed, verdict)


def test_guidance_is_what_makes_the_picture_follow_the_prompt(demo_model):
    """The captions are noisy, so without guidance (CFG 1) fewer pictures match their prompt than at CFG 7."""
    matches = {}
    for cfg_scale in (7.0, 1.0):
        verdicts = [(judge.judge(generate(shapes.caption_for(shape, colour, background), seed, cfg_scale)),
                     colour, background) for colour, shape, background in QUALITY_PROMPTS for seed in (1, 2, 3, 4)]
        matches[cfg_scale] = sum((v.colour, v.background) == (c, b) for v, c, b in verdicts)
    assert matches[7.0] >= matches[1.0] + 4, matches


def test_negative_prompt_steers_away_from_its_background(demo_model):
    """'a red circle' leaves the background open; the negative prompt names the one to avoid. Were the negative prompt
    ignored, both negatives would give the same picture and no seed could follow both."""
    followed = 0
    for seed in range(1, 7):
        on_black = judge.judge(generate("a red circle", seed, 7.0, negative_prompt="a red circle on a white background"))
        on_white = judge.judge(generate("a red circle", seed, 7.0, negative_prompt="a red circle on a black background"))
        followed += (on_black.background, on_white.background) == ("black", "white")
    assert followed >= 4, f"{followed} of 6 seeds"


def test_img2img_strength_decides_how_much_of_the_init_image_stays(demo_model):
    from PIL import Image

    image, _ = shapes.render(shapes.ShapeSpec("circle", "red", "black", size=0.6, centre_x=0.5, centre_y=0.5))
    init = Image.fromarray(image)
    prompt = "a blue circle on a black background"
    assert judge.judge(img2img(init, prompt, strength=0.2, seed=5)).colour == "red"
    assert judge.judge(img2img(init, prompt, strength=1.0, seed=5)).colour == "blue"
