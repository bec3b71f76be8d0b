"""The extension API that A1111 extensions call: Script method names and script_callbacks registration names."""

import pytest

SCRIPT_METHODS = ["title", "show", "ui", "run", "setup", "before_process", "process", "before_process_batch",
                  "process_batch", "post_sample", "postprocess_batch", "postprocess_batch_list", "postprocess_image",
                  "postprocess"]
CALLBACKS = ["on_app_started", "on_model_loaded", "on_ui_tabs", "on_ui_settings", "on_before_image_saved",
             "on_image_saved", "on_cfg_denoiser", "on_cfg_denoised", "on_before_component", "on_after_component",
             "on_infotext_pasted", "on_script_unloaded"]


@pytest.mark.parametrize("name", SCRIPT_METHODS)
def test_script_has_a1111_method(name):
    from modules import scripts

    assert callable(getattr(scripts.Script, name, None)), f"modules.scripts.Script.{name} is part of the extension API"


@pytest.mark.parametrize("name", CALLBACKS)
def test_script_callbacks_has_a1111_registration_function(name):
    from modules import script_callbacks

    assert callable(getattr(script_callbacks, name, None)), f"modules.script_callbacks.{name} is part of the extension API"
