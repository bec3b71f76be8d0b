import json
import logging
import os
import subprocess
import sys

import pytest

from modules import options, shared_cmd_options, shared_options
from modules.options import OptionHTML, OptionInfo, Options, options_section


@pytest.fixture
def cmd_opts(monkeypatch):
    """The live cmd_opts with every settings-freezing flag off; tests switch them on."""
    opts = shared_cmd_options.cmd_opts
    for flag in ("freeze_settings", "hide_ui_dir_config"):
        monkeypatch.setattr(opts, flag, False)
    for flag in ("freeze_settings_in_sections", "freeze_specific_settings"):
        monkeypatch.setattr(opts, flag, None)
    return opts


@pytest.fixture
def opts(cmd_opts):
    labels = {}
    labels.update(options_section(("saving-images", "Saving images/grids", "saving"), {
        "samples_format": OptionInfo("png", "File format for images"),
        "jpeg_quality": OptionInfo(80, "Quality"),
        "outdir_samples": OptionInfo("", "Output directory"),
        "note": OptionHTML("<b>hello</b>"),
    }))
    labels.update(options_section(("sd", "Stable Diffusion", "sd"), {
        "sd_model_checkpoint": OptionInfo(None, "Checkpoint"),
        "tiling": OptionInfo(False, "Tiling"),
        "s_noise": OptionInfo(1.0, "sigma noise"),
        "quicksettings_list": OptionInfo(["sd_model_checkpoint"], "Quicksettings list"),
    }))
    labels.update(options_section(("API", "API", "system"), {
        "api_useragent": OptionInfo("", "User agent for requests", restrict_api=True),
    }))
    return Options(labels, restricted_opts={"outdir_samples"})


def test_attribute_access_returns_value_or_default(opts):
    assert opts.samples_format == "png"
    opts.data["samples_format"] = "webp"
    assert opts.samples_format == "webp"
    del opts.data["samples_format"]
    assert opts.samples_format == "png"
    with pytest.raises(AttributeError):
        _ = opts.no_such_option


def test_attribute_assignment_is_validated(opts):
    opts.jpeg_quality = 95
    assert opts.data["jpeg_quality"] == 95
    with pytest.raises(AttributeError, match="no_such_option"):
        opts.no_such_option = 1
    with pytest.raises(TypeError, match="jpeg_quality"):
        opts.jpeg_quality = "high"
    assert opts.jpeg_quality == 95


def test_set_reports_change_and_runs_callback(opts):
    calls = []
    opts.onchange("samples_format", lambda: calls.append(opts.samples_format), call=False)
    assert opts.set("samples_format", "jpg") is True
    assert opts.set("samples_format", "jpg") is False
    assert calls == ["jpg"]
    assert opts.set("samples_format", "webp", run_callbacks=False) is True
    assert calls == ["jpg"]


def test_failing_callback_restores_old_value_and_propagates(opts):
    def fail():
        raise ValueError("model not found")

    opts.onchange("sd_model_checkpoint", fail, call=False)
    opts.data["sd_model_checkpoint"] = "good.safetensors"
    with pytest.raises(ValueError, match="model not found"):
        opts.set("sd_model_checkpoint", "missing.safetensors")
    assert opts.sd_model_checkpoint == "good.safetensors"


def test_set_rejects_unknown_key_and_wrong_type(opts):
    with pytest.raises(KeyError):
        opts.set("no_such_option", 1)
    with pytest.raises(TypeError):
        opts.set("tiling", "yes")
    assert opts.set("s_noise", 1) is False  # int and float count as one type; 1 == 1.0
    assert opts.set("s_noise", 2) is True


def test_api_cannot_change_restricted_option(opts):
    with pytest.raises(RuntimeError, match="api_useragent"):
        opts.set("api_useragent", "bot/1.0", is_api=True)
    assert opts.api_useragent == ""
    assert opts.set("api_useragent", "bot/1.0") is True
    assert opts.set("samples_format", "jpg", is_api=True) is True


def test_freeze_settings_refuses_every_change(opts, cmd_opts, tmp_path):
    cmd_opts.freeze_settings = True
    with pytest.raises(RuntimeError, match="frozen"):
        opts.set("samples_format", "jpg")
    with pytest.raises(RuntimeError, match="frozen"):
        opts.samples_format = "jpg"
    with pytest.raises(RuntimeError):
        opts.save(str(tmp_path / "config.json"))
    assert opts.samples_format == "png"
    assert not (tmp_path / "config.json").exists()


def test_freeze_by_section_and_by_key(opts, cmd_opts):
    cmd_opts.freeze_settings_in_sections = "sd, ui"
    cmd_opts.freeze_specific_settings = "jpeg_quality"
    with pytest.raises(RuntimeError, match="tiling"):
        opts.set("tiling", True)
    with pytest.raises(RuntimeError, match="jpeg_quality"):
        opts.set("jpeg_quality", 50)
    assert opts.set("samples_format", "jpg") is True


def test_hide_ui_dir_config_refuses_restricted_options(opts, cmd_opts):
    assert opts.set("outdir_samples", "outputs/a") is True
    cmd_opts.hide_ui_dir_config = True
    with pytest.raises(RuntimeError, match="outdir_samples"):
        opts.set("outdir_samples", "outputs/b")
    assert opts.outdir_samples == "outputs/a"


def test_save_then_load_round_trip(opts, cmd_opts, tmp_path):
    path = tmp_path / "sub" / "config.json"
    opts.set("samples_format", "jpg")
    opts.save(str(path))
    saved = json.loads(path.read_text(encoding="utf8"))
    assert saved["samples_format"] == "jpg"
    assert "note" not in saved

    fresh = Options(opts.data_labels, set())
    fresh.load(str(path))
    assert fresh.samples_format == "jpg"
    assert fresh.jpeg_quality == 80
    assert os.listdir(path.parent) == ["config.json"]


def test_save_replaces_the_file_atomically(opts, tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(options.os, "replace", lambda src, dst: (replaced.append((src, dst)), real_replace(src, dst)))
    opts.save(str(path))
    assert len(replaced) == 1
    source, destination = replaced[0]
    assert os.path.dirname(source) == str(tmp_path)
    assert destination == str(path)


def test_failed_save_keeps_old_file_and_leaves_no_temp_file(opts, tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    opts.save(str(path))
    before = path.read_text(encoding="utf8")

    def crash_midway(obj, file, **kwargs):
        file.write('{"samples_format": "jp')
        raise OSError("disk full")

    monkeypatch.setattr(options.json, "dump", crash_midway)
    opts.set("samples_format", "jpg")
    with pytest.raises(OSError, match="disk full"):
        opts.save(str(path))
    assert path.read_text(encoding="utf8") == before
    assert os.listdir(tmp_path) == ["config.json"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", b"\xff\xfe\x00garbage"])
def test_corrupt_config_is_backed_up_and_defaults_used(opts, tmp_path, caplog, content):
    path = tmp_path / "config.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf8")
    opts.data["samples_format"] = "jpg"

    with caplog.at_level(logging.WARNING, logger="modules.options"):
        opts.load(str(path))

    assert opts.samples_format == "png"
    assert not path.exists()
    backups = [name for name in os.listdir(tmp_path) if name.startswith("config.corrupt-")]
    assert len(backups) == 1 and backups[0].endswith(".json")
    assert (tmp_path / backups[0]).read_bytes() == (content if isinstance(content, bytes) else content.encode())
    assert "config.json" in caplog.text


def test_missing_config_means_defaults_without_warning(opts, tmp_path, caplog):
    opts.data["samples_format"] = "jpg"
    with caplog.at_level(logging.WARNING, logger="modules.options"):
        opts.load(str(tmp_path / "absent.json"))
    assert opts.samples_format == "png"
    assert caplog.text == ""


def test_load_drops_values_of_the_wrong_type(opts, tmp_path, caplog):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"jpeg_quality": "high", "tiling": True, "s_noise": 1, "from_extension": 3}))
    with caplog.at_level(logging.WARNING, logger="modules.options"):
        opts.load(str(path))
    assert opts.jpeg_quality == 80
    assert opts.tiling is True
    assert opts.s_noise == 1
    assert opts.data["from_extension"] == 3
    assert "jpeg_quality" in caplog.text


def test_load_migrates_old_quicksettings_string(opts, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"quicksettings": "sd_model_checkpoint, sd_vae"}))
    opts.load(str(path))
    assert opts.quicksettings_list == ["sd_model_checkpoint", "sd_vae"]


def test_defaults_are_not_shared_with_option_info(opts):
    opts.quicksettings_list.append("tiling")
    assert opts.get_default("quicksettings_list") == ["sd_model_checkpoint"]
    assert opts.get_default("no_such_option") is None


def test_cast_value(opts):
    assert opts.cast_value("jpeg_quality", "12") == 12
    assert opts.cast_value("tiling", "False") is False
    assert opts.cast_value("tiling", "True") is True
    assert opts.cast_value("s_noise", "0.5") == 0.5
    assert opts.cast_value("samples_format", None) is None
    assert opts.cast_value("sd_model_checkpoint", "x") is None


def test_same_type(opts):
    assert opts.same_type(1, 2.5)
    assert opts.same_type(None, "x")
    assert not opts.same_type(True, 1)
    assert not opts.same_type("1", 1)


def test_onchange_calls_immediately_by_default(opts):
    calls = []
    opts.onchange("tiling", lambda: calls.append(1))
    assert calls == [1]


def test_add_option_and_reorder(opts):
    options.categories.register_category("saving", "Saving images")
    options.categories.register_category("sd", "Stable Diffusion")
    options.categories.register_category("system", "System")
    opts.add_option("late_sd_option", OptionInfo(7, "Late", section=("sd", "Stable Diffusion")))
    opts.add_option("late_saving_option", OptionInfo("x", "Late", section=("saving-images", "Saving images/grids"),
                                                     category_id="saving"))
    assert opts.late_sd_option == 7

    opts.reorder()

    assert list(opts.data_labels) == [
        "samples_format", "jpeg_quality", "outdir_samples", "note", "late_saving_option",
        "sd_model_checkpoint", "tiling", "s_noise", "quicksettings_list", "late_sd_option",
        "api_useragent",
    ]
    assert opts.data_labels["late_sd_option"].category_id == "sd"


def test_dumpjson(opts):
    opts.data["samples_format"] = "jpg"
    dumped = json.loads(opts.dumpjson())
    assert dumped["samples_format"] == "jpg"
    assert dumped["jpeg_quality"] == 80
    assert "_comments_before" in dumped and "_comments_after" in dumped
    assert ["Saving images/grids", "Saving images"] in dumped["_categories"]
    assert dumped["_categories"][-1] == ["Defaults", "Other"]


def test_option_info_helpers_chain():
    info = OptionInfo(1, "x").info("hint").link("wiki", "https://example.com").needs_reload_ui().needs_restart()
    assert "hint" in info.comment_after and "Reload UI" in info.comment_after and "restart" in info.comment_after
    assert "https://example.com" in info.comment_before
    assert OptionInfo(1).html("<i>a</i>").comment_after == "<i>a</i>"


def test_options_section_sets_section_and_category():
    section = options_section(("sd", "Stable Diffusion", "sd"), {"a": OptionInfo(1)})
    assert section["a"].section == ("sd", "Stable Diffusion")
    assert section["a"].category_id == "sd"


REFERENCE_DEFAULTS = {
    # the reference's "Options (config.json) worth having from day one"
    "sd_model_checkpoint": None, "sd_vae": "Automatic", "CLIP_stop_at_last_layers": 1, "eta_noise_seed_delta": 0,
    "randn_source": "GPU", "samples_save": True, "samples_format": "png", "samples_filename_pattern": "",
    "save_to_dirs": True, "directories_filename_pattern": "[date]", "grid_save": True, "grid_format": "png",
    "grid_only_if_multiple": True, "return_grid": True, "enable_pnginfo": True, "save_txt": False,
    "outdir_samples": "", "outdir_txt2img_samples": "outputs/txt2img-images",
    "outdir_img2img_samples": "outputs/img2img-images", "outdir_txt2img_grids": "outputs/txt2img-grids",
    "outdir_img2img_grids": "outputs/img2img-grids", "outdir_save": "log/images", "send_seed": True,
    "live_previews_enable": True, "show_progress_every_n_steps": 10, "add_model_hash_to_info": True,
    "add_model_name_to_info": True,
    "add_version_to_infotext": True,  # the reference writes add_version_to_info; A1111's key is add_version_to_infotext
    "emphasis": "Original", "comma_padding_backtrack": 20, "s_churn": 0, "s_tmin": 0, "s_tmax": 0, "s_noise": 1,
    "eta_ancestral": 1, "eta_ddim": 0, "upscaler_for_img2img": None, "img2img_fix_steps": False,
    "initial_noise_multiplier": 1.0, "sd_checkpoints_limit": 1, "sd_checkpoint_cache": 0,
}

ENGINE_DEFAULTS = {
    "sd_vae_overrides_per_model_preferences": True, "always_discard_next_to_last_sigma": False,
    "show_progress_type": "Approx cheap", "live_preview_content": "Prompt", "img2img_color_correction": False,
    "img2img_background_color": "#ffffff", "inpainting_mask_weight": 1.0, "return_mask": False,
    "return_mask_composite": False, "img2img_extra_noise": 0.0, "use_old_scheduling": False,
    "use_old_emphasis_implementation": False, "enable_batch_seeds": True, "tiling": False,
    "save_images_add_number": True, "grid_extended_filename": False, "grid_prevent_empty_spots": False, "n_rows": -1,
    "font": "", "save_images_before_face_restoration": False, "jpeg_quality": 80, "webp_lossless": False,
    "export_for_4chan": True, "img_downscale_threshold": 4.0, "target_side_length": 4000, "img_max_size_mp": 200,
    "use_original_name_batch": True, "use_upscaler_name_as_suffix": False, "save_selected_only": True,
    "save_init_img": False, "temp_dir": "", "clean_temp_dir_at_start": False, "grid_save_to_dirs": True,
    "use_save_to_dirs_for_ui": False, "directories_max_prompt_words": 8,
    "outdir_extras_samples": "outputs/extras-images", "outdir_grids": "", "outdir_init_images": "outputs/init-images",
    "add_vae_hash_to_info": True, "add_vae_name_to_info": True, "add_user_name_to_info": False,
    "disable_weights_auto_swap": True, "infotext_skip_pasting": [], "infotext_styles": "Apply if any",
    "send_size": True, "js_modal_lightbox": True, "do_not_show_images": False,
    "hires_fix_use_firstpass_conds": False, "face_restoration": False, "face_restoration_model": "CodeFormer",
    "code_former_weight": 0.5, "face_restoration_unload": False, "upscaling_max_images_in_cache": 5,
    "memmon_poll_rate": 8, "samples_log_stdout": False, "multiple_tqdm": True, "print_hypernet_extra": False,
    "list_hidden_files": True, "disable_mmap_load_safetensors": False, "hide_ldm_prints": True,
    "api_enable_requests": True, "api_forbid_local_requests": True, "api_useragent": "", "sd_lora": "None",
    "lora_preferred_name": "Alias from file", "lora_add_hashes_to_infotext": True,
    "extra_networks_default_multiplier": 1.0, "disabled_extensions": [], "disable_all_extensions": "none",
    "restore_config_state_file": "", "sd_unet": "Automatic", "quicksettings_list": ["sd_model_checkpoint"],
    "ui_reorder_list": [], "ui_tab_order": [], "hidden_tabs": [], "gradio_theme": "Default", "show_progressbar": True,
    "interrupt_after_current": True, "save_incomplete_images": False, "auto_launch_browser": "Disable",
    "token_merging_ratio": 0.0, "token_merging_ratio_img2img": 0.0, "token_merging_ratio_hr": 0.0,
    "pad_cond_uncond": False, "persistent_cond_cache": True, "batch_cond_uncond": True, "s_min_uncond": 0.0,
    "sd_noise_schedule": "Default", "sd_vae_checkpoint_cache": 0, "sd_vae_encode_method": "Full",
    "sd_vae_decode_method": "Full", "auto_vae_precision": True, "upcast_attn": False, "sdxl_crop_top": 0,
    "sdxl_crop_left": 0, "sdxl_refiner_low_aesthetic_score": 2.5, "sdxl_refiner_high_aesthetic_score": 6.0,
}


@pytest.mark.parametrize("key, default", [*REFERENCE_DEFAULTS.items(), *ENGINE_DEFAULTS.items()])
def test_shared_options_have_reference_defaults(key, default):
    info = shared_options.options_templates[key]
    assert info.default == default
    assert type(info.default) is type(default) or {type(info.default), type(default)} <= {int, float}


def test_shared_option_choices_and_sections():
    templates = shared_options.options_templates
    assert templates["emphasis"].component_args["choices"] == ["None", "Ignore", "Original", "No norm"]
    assert templates["randn_source"].component_args["choices"] == ["GPU", "CPU", "NV"]
    assert templates["CLIP_stop_at_last_layers"].component_args == {"minimum": 1, "maximum": 12, "step": 1}
    assert templates["samples_format"].section == ("saving-images", "Saving images/grids")
    assert templates["outdir_samples"].section[0] == "saving-paths"
    assert templates["sd_vae"].section[0] == "vae"
    assert templates["eta_ddim"].section[0] == "sampler-params"
    assert templates["CLIP_stop_at_last_layers"].infotext == "Clip skip"


def test_restricted_options():
    templates = shared_options.options_templates
    assert {key for key, info in templates.items() if info.restrict_api} == {
        "api_enable_requests", "api_forbid_local_requests", "api_useragent"}
    assert {"samples_filename_pattern", "directories_filename_pattern", "temp_dir"} <= shared_options.restricted_opts
    assert {key for key in templates if key.startswith("outdir_")} <= shared_options.restricted_opts


def test_shared_imports_without_heavy_modules():
    code = ("import sys; from modules import shared; "
            "heavy = [m for m in ('torch', 'gradio', 'diffusers', 'transformers') if m in sys.modules]; "
            "assert not heavy, heavy; assert shared.opts.samples_format == 'png'; assert shared.state.job_count == 0")
    env = {**os.environ, "SERENA_DATA_DIR": "/nonexistent-serena-data"}
    result = subprocess.run([sys.executable, "-c", code], cwd=shared_options.__file__.rsplit("/modules/", 1)[0],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
