"""prepare_prompt_seed_state(p): the request turned into per-image prompts and seeds (M06)."""

import copy
import csv
import random

import pytest
from PIL import Image

from modules import processing, prompt_seed_prep, shared, styles
from modules.prompt_seed_prep import PREPARED_FIELDS, prepare_prompt_seed_state
from test.generation_job import Hooks, process_as_a_job

SEED_RANGE = 4294967294


def txt2img(**fields) -> processing.StableDiffusionProcessingTxt2Img:
    return processing.StableDiffusionProcessingTxt2Img(**{"prompt": "a red circle", "seed": 1234, **fields})


def first_draws(state: int, count: int) -> list[int]:
    source = random.Random(state)
    return [source.randrange(SEED_RANGE) for _ in range(count)]


@pytest.fixture(autouse=True)
def global_random_state_kept():
    """The tests seed Python's global random; what other tests draw from it stays as it would have been."""
    state = random.getstate()
    yield
    random.setstate(state)


@pytest.fixture
def style_database(tmp_path, monkeypatch):
    path = tmp_path / "styles.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "prompt", "negative_prompt"])
        writer.writerow(["wrap", "best, {prompt}, sharp", "ugly, {prompt}"])
        writer.writerow(["tail", "oil painting", "lowres"])
    database = styles.StyleDatabase(path)
    monkeypatch.setattr(shared, "prompt_styles", database)
    return database


@pytest.mark.parametrize("unfixed", [-1, None, "", "not a number"])
def test_unfixed_seeds_become_random_ones_drawn_seed_first(unfixed):
    random.seed(31)
    p = txt2img(seed=unfixed, subseed=unfixed, batch_size=2)
    prepare_prompt_seed_state(p)
    seed, subseed = first_draws(31, 2)
    assert p.all_seeds == [seed, seed + 1]
    assert p.all_subseeds == [subseed, subseed + 1]
    assert p.seed == unfixed and p.subseed == unfixed, "the request keeps what it asked for, as in A1111"


def test_fixed_seeds_draw_nothing_from_the_global_random():
    random.seed(5)
    prepare_prompt_seed_state(txt2img(seed=10, subseed="12"))
    assert random.randrange(SEED_RANGE) == first_draws(5, 1)[0]


def test_text_seeds_are_numbers():
    p = txt2img(seed="42", subseed="7", subseed_strength=0.5)
    prepare_prompt_seed_state(p)
    assert p.all_seeds == [42] and p.all_subseeds == [7]


def test_seed_lists_are_kept_as_they_are():
    seeds, subseeds = [5, 9, 11], [100, 3, 3]
    p = txt2img(prompt=["a", "b", "c"], seed=seeds, subseed=subseeds, subseed_strength=0.4)
    prepare_prompt_seed_state(p)
    assert p.all_seeds is seeds and p.all_subseeds is subseeds
    assert p.all_prompts == ["a", "b", "c"]


@pytest.mark.parametrize(("batch_size", "n_iter"), [(1, 1), (2, 3), (3, 2), (1, 4)])
def test_one_prompt_and_seed_per_image(batch_size, n_iter):
    p = txt2img(negative_prompt="blurry", subseed=50, batch_size=batch_size, n_iter=n_iter)
    prepare_prompt_seed_state(p)
    count = batch_size * n_iter
    assert p.all_prompts == ["a red circle"] * count
    assert p.all_negative_prompts == ["blurry"] * count
    assert p.all_seeds == [1234 + i for i in range(count)]
    assert p.all_subseeds == [50 + i for i in range(count)]


def test_without_a_variation_every_image_steps_its_seed():
    p = txt2img(subseed=50, subseed_strength=0, batch_size=2, n_iter=2)
    prepare_prompt_seed_state(p)
    assert p.all_seeds == [1234, 1235, 1236, 1237]
    assert p.all_subseeds == [50, 51, 52, 53]


def test_with_a_variation_the_seed_stays_and_the_variation_seed_steps():
    p = txt2img(subseed=50, subseed_strength=0.25, batch_size=2, n_iter=2)
    prepare_prompt_seed_state(p)
    assert p.all_seeds == [1234] * 4
    assert p.all_subseeds == [50, 51, 52, 53]


def test_a_prompt_list_sets_the_main_prompt_and_pairs_one_negative_prompt_per_prompt():
    p = txt2img(prompt=["first", "second"], negative_prompt="bad")
    prepare_prompt_seed_state(p)
    assert p.main_prompt == "first" and p.main_negative_prompt == "bad"
    assert p.all_prompts == ["first", "second"] and p.all_negative_prompts == ["bad", "bad"]
    assert p.all_seeds == [1234, 1235]


def test_styles_wrap_with_placeholder_and_append_without(style_database):
    p = txt2img(prompt="a cat", negative_prompt="blurry", styles=["wrap", "tail"], batch_size=2)
    prepare_prompt_seed_state(p)
    assert p.all_prompts == ["best, a cat, sharp, oil painting"] * 2
    assert p.all_negative_prompts == ["ugly, blurry, lowres"] * 2


def test_no_styles_leave_the_prompts_as_written(style_database):
    p = txt2img(prompt="a cat, {prompt}", negative_prompt="")
    prepare_prompt_seed_state(p)
    assert p.all_prompts == ["a cat, {prompt}"] and p.all_negative_prompts == [""]


def test_styles_without_a_style_database_leave_the_prompts_as_written(monkeypatch):
    monkeypatch.setattr(shared, "prompt_styles", None)
    p = txt2img(prompt="a cat", negative_prompt="blurry", styles=["wrap"])
    prepare_prompt_seed_state(p)
    assert p.all_prompts == ["a cat"] and p.all_negative_prompts == ["blurry"]


def test_hires_prompts_get_the_styles_and_fall_back_to_the_image_prompt(style_database):
    p = txt2img(prompt=["a cat", "a dog"], styles=["wrap"], enable_hr=True, hr_prompt=["a tiger", ""],
                hr_negative_prompt="grainy")
    prepare_prompt_seed_state(p)
    assert p.all_hr_prompts == ["best, a tiger, sharp", "best, a dog, sharp"]
    assert p.all_hr_negative_prompts == ["ugly, grainy", "ugly, grainy"]


def test_hires_prompts_are_not_made_without_hires_fix(style_database):
    p = txt2img(styles=["wrap"], hr_prompt="a tiger")
    prepare_prompt_seed_state(p)
    assert p.all_prompts == ["best, a red circle, sharp"]
    assert getattr(p, "all_hr_prompts", None) is None


@pytest.mark.parametrize("make", [
    lambda: txt2img(seed=-1, batch_size=2, n_iter=2, styles=["wrap"], enable_hr=True, hr_prompt="x"),
    lambda: processing.StableDiffusionProcessingImg2Img(prompt="a dog", seed=-1, subseed_strength=0.5, n_iter=2,
                                                        init_images=[Image.new("RGB", (32, 32))], styles=["tail"]),
], ids=["txt2img-hires", "img2img"])
def test_fields_outside_the_contract_are_left_alone(make, style_database):
    p = make()
    before = copy.deepcopy(vars(p))
    prepare_prompt_seed_state(p)
    after = vars(p)
    changed = {key for key in set(before) | set(after) if key not in before or before[key] != after[key]}
    assert changed, "the function must have prepared something"
    assert changed <= PREPARED_FIELDS, f"changed outside the contract: {sorted(changed - PREPARED_FIELDS)}"
    assert {"all_prompts", "all_negative_prompts", "all_seeds", "all_subseeds"} <= changed


def test_processing_keeps_a1111_names_for_the_seed_helpers():
    assert processing.get_fixed_seed is prompt_seed_prep.get_fixed_seed
    assert processing.fix_seed is prompt_seed_prep.fix_seed
    p = txt2img(seed=-1, subseed=3)
    random.seed(8)
    processing.fix_seed(p)
    assert (p.seed, p.subseed) == (first_draws(8, 1)[0], 3)


def test_a_generation_draws_its_seeds_first_from_the_global_random(sd_model):
    """With Python's random in a known state, seed and variation seed are its first two draws: nothing in the
    generation draws before them (the order A1111 has)."""
    random.seed(20261122)
    p = txt2img(seed=-1, subseed=-1, subseed_strength=0.3, batch_size=2, steps=2, width=64, height=64,
                sampler_name="Euler", do_not_save_samples=True, do_not_save_grid=True)
    result = process_as_a_job(p)
    seed, subseed = first_draws(20261122, 2)
    assert result.all_seeds == [seed, seed] and result.all_subseeds == [subseed, subseed + 1]
    assert f"Seed: {seed}," in result.info and f"Variation seed: {subseed}," in result.info


def test_a_generation_prepares_once_between_the_model_fields_and_the_scripts_process(sd_model, monkeypatch):
    """A1111's order: the model fields and option-filled fields are set before the prompts are (an override of
    setup_prompts may read them), and the scripts' process() sees the prepared prompts and seeds."""
    calls = []
    real = processing.prepare_prompt_seed_state

    def spy(p):
        calls.append(p)
        real(p)

    class OwnPrompts(processing.StableDiffusionProcessingTxt2Img):
        def setup_prompts(self):
            calls.append(("setup_prompts", self.sd_model_name, self.sampler_name, self.s_min_uncond))
            super().setup_prompts()

    monkeypatch.setattr(processing, "prepare_prompt_seed_state", spy)
    p = OwnPrompts(prompt="a red circle", seed=1234, n_iter=3, steps=1, width=64, height=64, sampler_name=None,
                   do_not_save_samples=True, do_not_save_grid=True)
    p.scripts = Hooks(before_process=lambda p: calls.append(("before_process", p.all_seeds)),
                      process=lambda p: calls.append(("process", list(p.all_seeds), list(p.all_prompts))))
    process_as_a_job(p)
    assert calls == [("before_process", None), p,
                     ("setup_prompts", sd_model.sd_checkpoint_info.name_for_extra, "Euler a", shared.opts.s_min_uncond),
                     ("process", [1234, 1235, 1236], ["a red circle"] * 3)]
