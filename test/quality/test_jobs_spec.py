"""GenerationSpec as a plain value: JSON round trip (images, script values), refused values named, schema version
checked; the builder's script argument layout by title and back."""

import json

import numpy as np
import pytest
from PIL import Image

from modules.jobs import builder, script_values
from modules.jobs.spec import SCHEMA_VERSION, GenerationSpec, SpecError


def test_a_spec_survives_json_with_its_images_and_script_values():
    image = Image.new("RGBA", (8, 4), (10, 20, 30, 40))
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    spec = GenerationSpec(mode="img2img", source="ui", params={"prompt": "p", "override_settings": {"eta": 0.5}},
                          script_name="X/Y/Z plot", script_args=[1, "two", [3.0, None], {"k": image}],
                          alwayson_scripts={"Extra": {"args": [array, True]}},
                          images={"init_images": [script_values.png_bytes(image)]},
                          extra_generation_params={"Mask mode": "Inpaint not masked"})
    again = GenerationSpec.from_json(spec.to_json())
    assert again.to_json() == spec.to_json()
    assert again.fingerprint() == spec.fingerprint()
    assert np.array_equal(np.array(again.script_args[3]["k"]), np.array(image))
    restored = again.alwayson_scripts["Extra"]["args"][0]
    assert restored.dtype == array.dtype and np.array_equal(restored, array)
    assert np.array_equal(np.array(again.image("init_images")), np.array(image))
    assert again.params == spec.params and again.source == "ui"


def test_png_bytes_converts_modes_png_cannot_hold():
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 0, 0))
    assert script_values.image_from_png(script_values.png_bytes(cmyk)).mode == "RGB"


def test_a_script_value_no_job_can_hold_is_refused_by_name():
    spec = GenerationSpec(mode="txt2img", params={}, script_args=[1, object()])
    with pytest.raises(script_values.NotStorable, match=r"script_args\[1\]: a value of type object"):
        spec.to_json()
    with pytest.raises(script_values.NotStorable, match="keys that are not text"):
        script_values.encode({1: 2}, "alwayson_scripts.X")


def test_specs_that_ask_for_different_things_have_different_fingerprints():
    assert GenerationSpec(mode="txt2img", params={"seed": 1}).fingerprint() != \
        GenerationSpec(mode="txt2img", params={"seed": 2}).fingerprint()


def test_a_stored_spec_of_another_schema_version_is_refused():
    data = json.loads(GenerationSpec(mode="txt2img", params={}).to_json())
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SpecError, match="schema_version"):
        GenerationSpec.from_json(json.dumps(data))
    with pytest.raises(SpecError, match="mode"):
        GenerationSpec(mode="video", params={})


class FakeScript:
    def __init__(self, title, args_from, args_to, alwayson, defaults):
        self._title, self.args_from, self.args_to, self.alwayson = title, args_from, args_to, alwayson
        self.controls = [type("Control", (), {"value": value})() for value in defaults]

    def title(self):
        return self._title


class FakeRunner:
    """A ScriptRunner's layout: [selected index, selectable A (2), selectable B (1), always-on C (2)]."""

    def __init__(self):
        self.selectable_scripts = [FakeScript("A", 1, 3, False, ["a1", "a2"]), FakeScript("B", 3, 4, False, ["b1"])]
        self.alwayson_scripts = [FakeScript("C", 4, 6, True, [0.5, False])]
        self.default_args = [0, "a1", "a2", "b1", 0.5, False]
        self.titles = ["A", "B"]

    def ensure_args_layout(self):
        pass

    def selectable_index(self, title):
        names = [s.title().lower() for s in self.selectable_scripts]
        return names.index(title.lower()) + 1 if title.lower() in names else None

    def find_script(self, title):
        return next((s for s in self.selectable_scripts + self.alwayson_scripts if s.title() == title), None)


def test_the_ui_positions_become_titles_and_back_to_the_same_positions():
    runner = FakeRunner()
    positions = [2, "a1", "a2", "B-value", 0.9, True]
    name, args, alwayson = builder.scripts_by_title(runner, positions)
    assert (name, args, alwayson) == ("B", ["B-value"], {"C": {"args": [0.9, True]}})
    assert builder.script_args_for(runner, name, args, alwayson) == positions
    assert builder.scripts_by_title(runner, [0, "x", "y", "z", 0.1, False])[0] is None


def test_script_arguments_that_do_not_fit_are_named():
    runner = FakeRunner()
    with pytest.raises(builder.ScriptArgumentError, match="script_name") as error:
        builder.script_args_for(runner, "Nope", [], {})
    assert error.value.status == 404
    with pytest.raises(builder.ScriptArgumentError, match="takes 2 arguments, got 3"):
        builder.script_args_for(runner, "A", [1, 2, 3], {})
    with pytest.raises(builder.ScriptArgumentError, match="is a selectable script"):
        builder.script_args_for(runner, None, [], {"A": {"args": []}})
    assert builder.script_args_for(runner, "a", ["x"], {}) == [1, "x", "a2", "b1", 0.5, False]


def test_the_inpaint_tabs_spec_builds_the_processing_object_the_tab_built():
    from modules import img2img, processing

    image = Image.new("RGB", (64, 64), "red")
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (16, 16, 48, 48))
    spec = img2img.img2img_spec(mode=img2img.MODE_INPAINT, prompt="p", init_img_with_mask={
        "background": image, "layers": [layer]}, inpainting_fill="fill", inpainting_mask_invert="Inpaint not masked",
        resize_mode="Crop and resize", inpaint_full_res="Only masked", steps=3, width=64, height=64,
        sampler_name="Euler", seed=5, seed_enable_extras=False, subseed=9)
    assert spec.source == "ui" and set(spec.images) == {"init_images", "mask"}
    p = builder.build_processing(GenerationSpec.from_json(spec.to_json()), sd_model=None)
    assert isinstance(p, processing.StableDiffusionProcessingImg2Img) and not p.is_api
    assert (p.inpainting_fill, p.inpainting_mask_invert, p.resize_mode, p.inpaint_full_res) == (0, 1, 1, True)
    assert p.extra_generation_params["Mask mode"] == "Inpaint not masked"
    assert p.extra_generation_params["Masked content"] == "fill"
    assert (p.seed, p.subseed, p.sampler_name, p.steps) == (5, -1, "Euler", 3)
    assert np.array_equal(np.array(p.init_images[0]), np.array(image))
    assert np.array(p.image_mask if p.image_mask is not None else p.mask)[32, 32] == 255
    assert (p.do_not_save_samples, p.do_not_save_grid) == (False, False)
