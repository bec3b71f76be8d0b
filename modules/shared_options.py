"""The settings (A1111's options_templates): keys, defaults, labels and sections as in A1111 v1.10."""

import importlib
import sys

from modules.options import OptionHTML, OptionInfo, categories, options_section
from modules.options_components import (
    CheckboxGroup,
    ColorPicker,
    Dropdown,
    DropdownEditable,
    DropdownMulti,
    Number,
    Radio,
    Slider,
    Textbox,
)
from modules.shared_cmd_options import cmd_opts

WIKI_FILENAMES = "https://github.com/AUTOMATIC1111/stable-diffusion-webui/wiki/Custom-Images-Filename-Name-and-Subdirectory"

hide_dirs = {"visible": not cmd_opts.hide_ui_dir_config}

restricted_opts = {
    "samples_filename_pattern",
    "directories_filename_pattern",
    "outdir_samples",
    "outdir_txt2img_samples",
    "outdir_img2img_samples",
    "outdir_extras_samples",
    "outdir_grids",
    "outdir_txt2img_grids",
    "outdir_img2img_grids",
    "outdir_save",
    "outdir_init_images",
    "temp_dir",
    "clean_temp_dir_at_start",
}
"""Path-like options; they cannot be changed at all when --hide-ui-dir-config is given."""

ui_reorder_categories = ["prompt", "image", "inpaint", "sampler", "accordions", "checkboxes", "dimensions", "cfg",
                         "denoising", "seed", "batch", "override_settings", "scripts"]


def _module(name):
    return importlib.import_module(name)


def _shared():
    return _module("modules.shared")


def _choices(get_names, first=(), last=()):
    """A component_args hook: the choices are listed when the settings UI is built, not at import."""
    return lambda: {"choices": [*first, *get_names(), *last]}


def _lora_names():
    networks = sys.modules.get("networks")  # the built-in Lora extension's module, once it is loaded
    return list(getattr(networks, "available_networks", {}))


def _slider(minimum, maximum, step):
    return {"minimum": minimum, "maximum": maximum, "step": step}


def _refresh_checkpoints():
    _module("modules.sd_models").list_models()


def _refresh_vae_list():
    _module("modules.sd_vae").refresh_vae_list()


categories.register_category("saving", "Saving images")
categories.register_category("sd", "Stable Diffusion")
categories.register_category("ui", "User Interface")
categories.register_category("system", "System")
categories.register_category("postprocessing", "Postprocessing")

options_templates = {}

options_templates.update(options_section(("saving-images", "Saving images/grids", "saving"), {
    "samples_save": OptionInfo(True, "Always save all generated images"),
    "samples_format": OptionInfo("png", "File format for images", DropdownEditable,
                                 {"choices": ["png", "jpg", "jpeg", "webp", "avif"]}),
    "samples_filename_pattern": OptionInfo("", "Images filename pattern", component_args=hide_dirs)
    .link("wiki", WIKI_FILENAMES),
    "save_images_add_number": OptionInfo(True, "Add number to filename when saving", component_args=hide_dirs),
    "save_images_replace_action": OptionInfo("Replace", "Saving the image to an existing file", Radio,
                                             {"choices": ["Replace", "Add number suffix"], **hide_dirs}),
    "grid_save": OptionInfo(True, "Always save all generated image grids"),
    "grid_format": OptionInfo("png", "File format for grids", DropdownEditable,
                              {"choices": ["png", "jpg", "jpeg", "webp", "avif"]}),
    "grid_extended_filename": OptionInfo(False, "Add extended info (seed, prompt) to filename when saving grid"),
    "grid_only_if_multiple": OptionInfo(True, "Do not save grids consisting of one picture"),
    "grid_prevent_empty_spots": OptionInfo(False, "Prevent empty spots in grid (when set to autodetect)"),
    "grid_zip_filename_pattern": OptionInfo("", "Archive filename pattern", component_args=hide_dirs)
    .link("wiki", WIKI_FILENAMES),
    "n_rows": OptionInfo(-1, "Grid row count; use -1 for autodetect and 0 for it to be same as batch size", Slider,
                         _slider(-1, 16, 1)),
    "font": OptionInfo("", "Font for image grids that have text"),
    "grid_text_active_color": OptionInfo("#000000", "Text color for image grids", ColorPicker, {}),
    "grid_text_inactive_color": OptionInfo("#999999", "Inactive text color for image grids", ColorPicker, {}),
    "grid_background_color": OptionInfo("#ffffff", "Background color for image grids", ColorPicker, {}),
    "save_images_before_face_restoration": OptionInfo(False, "Save a copy of image before doing face restoration."),
    "save_images_before_highres_fix": OptionInfo(False, "Save a copy of image before applying highres fix."),
    "save_images_before_color_correction": OptionInfo(False, "Save a copy of image before applying color correction "
                                                             "to img2img results"),
    "save_mask": OptionInfo(False, "For inpainting, save a copy of the greyscale mask"),
    "save_mask_composite": OptionInfo(False, "For inpainting, save a masked composite"),
    "jpeg_quality": OptionInfo(80, "Quality for saved jpeg and avif images", Slider, _slider(1, 100, 1)),
    "webp_lossless": OptionInfo(False, "Use lossless compression for webp images"),
    "export_for_4chan": OptionInfo(True, "Save copy of large images as JPG")
    .info("if the file size is above the limit, or either width or height are above the limit"),
    "img_downscale_threshold": OptionInfo(4.0, "File size limit for the above option, MB", Number),
    "target_side_length": OptionInfo(4000, "Width/height limit for the above option, in pixels", Number),
    "img_max_size_mp": OptionInfo(200, "Maximum image size", Number).info("in megapixels"),
    "use_original_name_batch": OptionInfo(True, "Use original name for output filename during batch process in "
                                                "extras tab"),
    "use_upscaler_name_as_suffix": OptionInfo(False, "Use upscaler name as filename suffix in the extras tab"),
    "save_selected_only": OptionInfo(True, "When using 'Save' button, only save a single selected image"),
    "save_write_log_csv": OptionInfo(True, "Write log.csv when saving images using 'Save' button"),
    "save_init_img": OptionInfo(False, "Save init images when using img2img"),
    "temp_dir": OptionInfo("", "Directory for temporary images; leave empty for default"),
    "clean_temp_dir_at_start": OptionInfo(False, "Cleanup non-default temporary directory when starting webui"),
    "save_incomplete_images": OptionInfo(False, "Save incomplete images")
    .info("save images that has been interrupted in mid-generation; even if not saved, they will still show up in "
          "webui output."),
    "notification_audio": OptionInfo(True, "Play notification sound after image generation")
    .info("notification.mp3 should be present in the root directory").needs_reload_ui(),
    "notification_volume": OptionInfo(100, "Notification sound volume", Slider, _slider(0, 100, 1)).info("in %"),
}))

options_templates.update(options_section(("saving-paths", "Paths for saving", "saving"), {
    "outdir_samples": OptionInfo("", "Output directory for images; if empty, defaults to three directories below",
                                 component_args=hide_dirs),
    "outdir_txt2img_samples": OptionInfo("outputs/txt2img-images", "Output directory for txt2img images",
                                         component_args=hide_dirs),
    "outdir_img2img_samples": OptionInfo("outputs/img2img-images", "Output directory for img2img images",
                                         component_args=hide_dirs),
    "outdir_extras_samples": OptionInfo("outputs/extras-images", "Output directory for images from extras tab",
                                        component_args=hide_dirs),
    "outdir_grids": OptionInfo("", "Output directory for grids; if empty, defaults to two directories below",
                               component_args=hide_dirs),
    "outdir_txt2img_grids": OptionInfo("outputs/txt2img-grids", "Output directory for txt2img grids",
                                       component_args=hide_dirs),
    "outdir_img2img_grids": OptionInfo("outputs/img2img-grids", "Output directory for img2img grids",
                                       component_args=hide_dirs),
    "outdir_save": OptionInfo("log/images", "Directory for saving images using the Save button",
                              component_args=hide_dirs),
    "outdir_init_images": OptionInfo("outputs/init-images", "Directory for saving init images when using img2img",
                                     component_args=hide_dirs),
}))

options_templates.update(options_section(("saving-to-dirs", "Saving to a directory", "saving"), {
    "save_to_dirs": OptionInfo(True, "Save images to a subdirectory"),
    "grid_save_to_dirs": OptionInfo(True, "Save grids to a subdirectory"),
    "use_save_to_dirs_for_ui": OptionInfo(False, "When using \"Save\" button, save images to a subdirectory"),
    "directories_filename_pattern": OptionInfo("[date]", "Directory name pattern", component_args=hide_dirs)
    .link("wiki", WIKI_FILENAMES),
    "directories_max_prompt_words": OptionInfo(8, "Max prompt words for [prompt_words] pattern", Slider,
                                               {**_slider(1, 20, 1), **hide_dirs}),
}))

options_templates.update(options_section(("upscaling", "Upscaling", "postprocessing"), {
    "ESRGAN_tile": OptionInfo(192, "Tile size for ESRGAN upscalers.", Slider, _slider(0, 512, 16))
    .info("0 = no tiling"),
    "ESRGAN_tile_overlap": OptionInfo(8, "Tile overlap for ESRGAN upscalers.", Slider, _slider(0, 48, 1))
    .info("Low values = visible seam"),
    "upscaler_for_img2img": OptionInfo(None, "Upscaler for img2img", Dropdown,
                                       _choices(lambda: [x.name for x in _shared().sd_upscalers])),
    "set_scale_by_when_changing_upscaler": OptionInfo(False, "Automatically set the Scale by factor based on the "
                                                             "name of the selected Upscaler."),
}))

options_templates.update(options_section(("face-restoration", "Face restoration", "postprocessing"), {
    "face_restoration": OptionInfo(False, "Restore faces", infotext="Face restoration")
    .info("will use a third-party model on generation result to reconstruct faces"),
    "face_restoration_model": OptionInfo("CodeFormer", "Face restoration model", Radio,
                                         _choices(lambda: [x.name() for x in _shared().face_restorers])),
    "code_former_weight": OptionInfo(0.5, "CodeFormer weight", Slider, _slider(0, 1, 0.01))
    .info("0 = maximum effect; 1 = minimum effect"),
    "face_restoration_unload": OptionInfo(False, "Move face restoration model from VRAM into RAM after processing"),
}))

options_templates.update(options_section(("system", "System", "system"), {
    "auto_launch_browser": OptionInfo("Disable", "Automatically open webui in browser on startup", Radio,
                                      {"choices": ["Disable", "Local", "Remote"]}),
    "enable_console_prompts": OptionInfo(False, "Print prompts to console when generating with txt2img and img2img."),
    "show_warnings": OptionInfo(False, "Show warnings in console.").needs_reload_ui(),
    "show_gradio_deprecation_warnings": OptionInfo(True, "Show gradio deprecation warnings in console.")
    .needs_reload_ui(),
    "memmon_poll_rate": OptionInfo(8, "VRAM usage polls per second during generation.", Slider, _slider(0, 40, 1))
    .info("0 = disable"),
    "samples_log_stdout": OptionInfo(False, "Always print all generation info to standard output"),
    "multiple_tqdm": OptionInfo(True, "Add a second progress bar to the console that shows progress for an entire "
                                      "job."),
    "enable_upscale_progressbar": OptionInfo(True, "Show a progress bar in the console for tiled upscaling."),
    "print_hypernet_extra": OptionInfo(False, "Print extra hypernetwork information to console."),
    "list_hidden_files": OptionInfo(True, "Load models/files in hidden directories")
    .info("directory is hidden if its name starts with \".\""),
    "disable_mmap_load_safetensors": OptionInfo(False, "Disable memmapping for loading .safetensors files.")
    .info("fixes very slow loading speed in some cases"),
    "hide_ldm_prints": OptionInfo(True, "Prevent Stability-AI's ldm/sgm modules from printing noise to console."),
    "dump_stacks_on_signal": OptionInfo(False, "Print stack traces before exiting the program with ctrl+c."),
}))

options_templates.update(options_section(("API", "API", "system"), {
    "api_enable_requests": OptionInfo(True, "Allow http:// and https:// URLs for input images in API",
                                      restrict_api=True),
    "api_forbid_local_requests": OptionInfo(True, "Forbid URLs to local resources", restrict_api=True),
    "api_useragent": OptionInfo("", "User agent for requests", restrict_api=True),
}))

options_templates.update(options_section(("sd", "Stable Diffusion", "sd"), {
    "sd_model_checkpoint": OptionInfo(None, "Stable Diffusion checkpoint", Dropdown,
                                      _choices(lambda: _module("modules.sd_models").checkpoint_tiles()),
                                      refresh=_refresh_checkpoints, infotext="Model hash"),
    "sd_checkpoints_limit": OptionInfo(1, "Maximum number of checkpoints loaded at the same time", Slider,
                                       _slider(1, 10, 1)),
    "sd_checkpoints_keep_in_cpu": OptionInfo(True, "Only keep one model on device")
    .info("will keep models other than the currently used one in RAM rather than VRAM"),
    "sd_checkpoint_cache": OptionInfo(0, "Checkpoints to cache in RAM", Slider, _slider(0, 10, 1))
    .info("obsolete; set to 0 and use the two settings above instead"),
    "sd_unet": OptionInfo("Automatic", "SD Unet", Dropdown, {"choices": ["Automatic", "None"]})
    .info("choose Unet model: Automatic = use one with same filename as checkpoint; None = use Unet from checkpoint"),
    "enable_quantization": OptionInfo(False, "Enable quantization in K samplers for sharper and cleaner results. "
                                             "This may change existing seeds").needs_reload_ui(),
    "emphasis": OptionInfo("Original", "Emphasis mode", Radio, {"choices": ["None", "Ignore", "Original", "No norm"]},
                           infotext="Emphasis")
    .info("makes it possible to make model to pay (more:1.1) or (less:0.9) attention to text when you use the syntax "
          "in prompt"),
    "enable_batch_seeds": OptionInfo(True, "Make K-diffusion samplers produce same images in a batch as when making "
                                           "a single image"),
    "comma_padding_backtrack": OptionInfo(20, "Prompt word wrap length limit", Slider, _slider(0, 74, 1))
    .info("in tokens - for texts shorter than specified, if they don't fit into 75 token limit, move them to the "
          "next 75 token chunk"),
    "CLIP_stop_at_last_layers": OptionInfo(1, "Clip skip", Slider, _slider(1, 12, 1), infotext="Clip skip")
    .info("ignore last layers of CLIP network; 1 ignores none, 2 ignores one layer"),
    "upcast_attn": OptionInfo(False, "Upcast cross attention layer to float32"),
    "randn_source": OptionInfo("GPU", "Random number generator source.", Radio, {"choices": ["GPU", "CPU", "NV"]},
                               infotext="RNG")
    .info("changes seeds drastically; use CPU to produce the same picture across different videocard vendors; use NV "
          "to produce same picture as on NVidia videocards"),
    "tiling": OptionInfo(False, "Tiling", infotext="Tiling").info("produce a tileable picture"),
    "hires_fix_refiner_pass": OptionInfo("second pass", "Hires fix: which pass to enable refiner for", Radio,
                                         {"choices": ["first pass", "second pass", "both passes"]},
                                         infotext="Hires refiner"),
}))

options_templates.update(options_section(("sdxl", "Stable Diffusion XL", "sd"), {
    "sdxl_crop_top": OptionInfo(0, "crop top coordinate"),
    "sdxl_crop_left": OptionInfo(0, "crop left coordinate"),
    "sdxl_refiner_low_aesthetic_score": OptionInfo(2.5, "SDXL low aesthetic score", Number)
    .info("used for refiner model negative prompt"),
    "sdxl_refiner_high_aesthetic_score": OptionInfo(6.0, "SDXL high aesthetic score", Number)
    .info("used for refiner model prompt"),
}))

options_templates.update(options_section(("vae", "VAE", "sd"), {
    "sd_vae_explanation": OptionHTML("""
The <abbr title='Variational autoencoder'>VAE</abbr> converts between pictures and the latents the model samples in:
it decodes the final latents of every generation into the image, and for img2img it also encodes the input picture.
"""),
    "sd_vae_checkpoint_cache": OptionInfo(0, "VAE Checkpoints to cache in RAM", Slider, _slider(0, 10, 1)),
    "sd_vae": OptionInfo("Automatic", "SD VAE", Dropdown,
                         _choices(lambda: _module("modules.sd_vae").vae_dict, first=("Automatic", "None")),
                         refresh=_refresh_vae_list, infotext="VAE")
    .info("choose VAE model: Automatic = use one with same filename as checkpoint; None = use VAE from checkpoint"),
    "sd_vae_overrides_per_model_preferences": OptionInfo(True, "Selected VAE overrides per-model preferences")
    .info("you can set per-model VAE either by editing user metadata for checkpoints, or by making the VAE have same "
          "name as checkpoint"),
    "auto_vae_precision": OptionInfo(True, "Automatically revert VAE to 32-bit floats")
    .info("triggers when a tensor with NaNs is produced in VAE; disabling the option in this case will result in a "
          "black square image"),
    "sd_vae_encode_method": OptionInfo("Full", "VAE type for encode", Radio, {"choices": ["Full", "TAESD"]},
                                       infotext="VAE Encoder")
    .info("method to encode image to latent (use in img2img, hires-fix or inpaint mask)"),
    "sd_vae_decode_method": OptionInfo("Full", "VAE type for decode", Radio, {"choices": ["Full", "TAESD"]},
                                       infotext="VAE Decoder").info("method to decode latent to image"),
}))

options_templates.update(options_section(("img2img", "img2img", "sd"), {
    "inpainting_mask_weight": OptionInfo(1.0, "Inpainting conditioning mask strength", Slider, _slider(0.0, 1.0, 0.01),
                                         infotext="Conditional mask weight"),
    "initial_noise_multiplier": OptionInfo(1.0, "Noise multiplier for img2img", Slider, _slider(0.0, 1.5, 0.001),
                                           infotext="Noise multiplier"),
    "img2img_extra_noise": OptionInfo(0.0, "Extra noise multiplier for img2img and hires fix", Slider,
                                      _slider(0.0, 1.0, 0.01), infotext="Extra noise")
    .info("0 = disabled (default); should be lower than denoising strength"),
    "img2img_color_correction": OptionInfo(False, "Apply color correction to img2img results to match original "
                                                  "colors."),
    "img2img_fix_steps": OptionInfo(False, "With img2img, do exactly the amount of steps the slider specifies.")
    .info("normally you'd do less with less denoising"),
    "img2img_background_color": OptionInfo("#ffffff", "With img2img, fill transparent parts of the input image with "
                                                      "this color.", ColorPicker, {}),
    "img2img_editor_height": OptionInfo(720, "Height of the image editor", Slider, _slider(80, 1600, 1))
    .info("in pixels").needs_reload_ui(),
    "img2img_sketch_default_brush_color": OptionInfo("#ffffff", "Sketch initial brush color", ColorPicker, {})
    .info("default brush color of img2img sketch").needs_reload_ui(),
    "img2img_inpaint_mask_brush_color": OptionInfo("#ffffff", "Inpaint mask brush color", ColorPicker, {})
    .info("brush color of inpaint mask").needs_reload_ui(),
    "img2img_inpaint_sketch_default_brush_color": OptionInfo("#ffffff", "Inpaint sketch initial brush color",
                                                             ColorPicker, {})
    .info("default brush color of img2img inpaint sketch").needs_reload_ui(),
    "return_mask": OptionInfo(False, "For inpainting, include the greyscale mask in results for web"),
    "return_mask_composite": OptionInfo(False, "For inpainting, include masked composite in results for web"),
    "img2img_batch_show_results_limit": OptionInfo(32, "Show the first N batch img2img results in UI", Slider,
                                                   _slider(-1, 1000, 1))
    .info("0: disable, -1: show all images. Too many images can cause lag"),
    "overlay_inpaint": OptionInfo(True, "Overlay original for inpaint")
    .info("when inpainting, overlay the original image over the areas that weren't inpainted."),
}))

options_templates.update(options_section(("optimizations", "Optimizations", "sd"), {
    "s_min_uncond": OptionInfo(0.0, "Negative Guidance minimum sigma", Slider, _slider(0.0, 15.0, 0.01),
                               infotext="NGMS")
    .info("skip negative prompt for some steps when the image is almost ready; 0=disable, higher=faster"),
    "s_min_uncond_all": OptionInfo(False, "Negative Guidance minimum sigma all steps", infotext="NGMS all steps")
    .info("By default, NGMS above skips every other step; this makes it skip all steps"),
    "token_merging_ratio": OptionInfo(0.0, "Token merging ratio", Slider, _slider(0.0, 0.9, 0.1),
                                      infotext="Token merging ratio").info("0=disable, higher=faster"),
    "token_merging_ratio_img2img": OptionInfo(0.0, "Token merging ratio for img2img", Slider, _slider(0.0, 0.9, 0.1))
    .info("only applies if non-zero and overrides above"),
    "token_merging_ratio_hr": OptionInfo(0.0, "Token merging ratio for high-res pass", Slider, _slider(0.0, 0.9, 0.1),
                                         infotext="Token merging ratio hr")
    .info("only applies if non-zero and overrides above"),
    "pad_cond_uncond": OptionInfo(False, "Pad prompt/negative prompt", infotext="Pad conds")
    .info("improves performance when prompt and negative prompt have different lengths; changes seeds"),
    "pad_cond_uncond_v0": OptionInfo(False, "Pad prompt/negative prompt (v0)", infotext="Pad conds v0")
    .info("alternative implementation for the above; used prior to 1.6.0 for DDIM sampler; overrides the above if set"
          "; changes seeds"),
    "persistent_cond_cache": OptionInfo(True, "Persistent cond cache")
    .info("do not recalculate conds from prompts if prompts have not changed since previous calculation"),
    "batch_cond_uncond": OptionInfo(True, "Batch cond/uncond")
    .info("do both conditional and unconditional denoising in one batch; uses a bit more VRAM during sampling, but "
          "improves speed"),
}))

options_templates.update(options_section(("compatibility", "Compatibility", "sd"), {
    "auto_backcompat": OptionInfo(True, "Automatic backward compatibility")
    .info("automatically enable options for backwards compatibility when importing generation parameters from "
          "infotext that has program version."),
    "use_old_emphasis_implementation": OptionInfo(False, "Use old emphasis implementation. Can be useful to reproduce "
                                                         "old seeds."),
    "use_old_karras_scheduler_sigmas": OptionInfo(False, "Use old karras scheduler sigmas (0.1 to 10)."),
    "no_dpmpp_sde_batch_determinism": OptionInfo(False, "Do not make DPM++ SDE deterministic across different batch "
                                                        "sizes."),
    "use_old_hires_fix_width_height": OptionInfo(False, "For hires fix, use width/height sliders to set final "
                                                        "resolution rather than first pass (disables Upscale by, "
                                                        "Resize width/height to)."),
    "hires_fix_use_firstpass_conds": OptionInfo(False, "For hires fix, calculate conds of second pass using extra "
                                                       "networks of first pass."),
    "use_old_scheduling": OptionInfo(False, "Use old prompt editing timelines.", infotext="Old prompt editing timelines")
    .info("For [red:green:N]; old: If N < 1, it's a fraction of steps (and hires fix uses range from 0 to 1), if "
          "N >= 1, it's an absolute number of steps; new: If N has a decimal point in it, it's a fraction of steps "
          "(and hires fix uses range from 1 to 2), otherwise it's an absolute number of steps"),
    "use_downcasted_alpha_bar": OptionInfo(False, "Downcast model alphas_cumprod to fp16 before sampling. For "
                                                  "reproducing old seeds.", infotext="Downcast alphas_cumprod"),
    "refiner_switch_by_sample_steps": OptionInfo(False, "Switch to refiner by sampling steps instead of model "
                                                        "timesteps. Old behavior for refiner.",
                                                 infotext="Refiner switch by sampling steps"),
}))

options_templates.update(options_section(("interrogate", "Interrogate"), {
    "interrogate_keep_models_in_memory": OptionInfo(False, "Keep models in VRAM"),
    "interrogate_return_ranks": OptionInfo(False, "Include ranks of model tags matches in results.")
    .info("booru only"),
    "interrogate_clip_num_beams": OptionInfo(1, "BLIP: num_beams", Slider, _slider(1, 16, 1)),
    "interrogate_clip_min_length": OptionInfo(24, "BLIP: minimum description length", Slider, _slider(1, 128, 1)),
    "interrogate_clip_max_length": OptionInfo(48, "BLIP: maximum description length", Slider, _slider(1, 256, 1)),
    "interrogate_clip_dict_limit": OptionInfo(1500, "CLIP: maximum number of lines in text file")
    .info("0 = No limit"),
    "interrogate_deepbooru_score_threshold": OptionInfo(0.5, "deepbooru: score threshold", Slider, _slider(0, 1, 0.01)),
    "deepbooru_sort_alpha": OptionInfo(True, "deepbooru: sort tags alphabetically").info("if not: sort by score"),
    "deepbooru_use_spaces": OptionInfo(True, "deepbooru: use spaces in tags").info("if not: use underscores"),
    "deepbooru_escape": OptionInfo(True, "deepbooru: escape (\\) brackets")
    .info("so they are used as literal brackets and not for emphasis"),
    "deepbooru_filter_tags": OptionInfo("", "deepbooru: filter out those tags").info("separate by comma"),
}))

options_templates.update(options_section(("extra_networks", "Extra Networks", "sd"), {
    "extra_networks_show_hidden_directories": OptionInfo(True, "Show hidden directories")
    .info("directory is hidden if its name starts with \".\"."),
    "extra_networks_hidden_models": OptionInfo("When searched", "Show cards for models in hidden directories", Radio,
                                               {"choices": ["Always", "When searched", "Never"]})
    .info("\"When searched\" option will only show the item when the search string has 4 characters or more"),
    "extra_networks_default_multiplier": OptionInfo(1.0, "Default multiplier for extra networks", Slider,
                                                    _slider(0.0, 2.0, 0.01)),
    "extra_networks_card_width": OptionInfo(0, "Card width for Extra Networks").info("in pixels"),
    "extra_networks_card_height": OptionInfo(0, "Card height for Extra Networks").info("in pixels"),
    "extra_networks_card_text_scale": OptionInfo(1.0, "Card text scale", Slider, _slider(0.0, 2.0, 0.01))
    .info("1 = original size"),
    "extra_networks_card_show_desc": OptionInfo(True, "Show description on card"),
    "extra_networks_add_text_separator": OptionInfo(" ", "Extra networks separator")
    .info("extra text to add before <...> when adding extra network to prompt"),
    "ui_extra_networks_tab_reorder": OptionInfo("", "Extra networks tab order").needs_reload_ui(),
    "textual_inversion_print_at_load": OptionInfo(False, "Print a list of Textual Inversion embeddings when loading "
                                                         "model"),
    "textual_inversion_add_hashes_to_infotext": OptionInfo(True, "Add Textual Inversion hashes to infotext"),
    "sd_lora": OptionInfo("None", "Add network to prompt", Dropdown, _choices(_lora_names, first=("None",))),
    "lora_preferred_name": OptionInfo("Alias from file", "When adding to prompt, refer to Lora by", Radio,
                                      {"choices": ["Alias from file", "Filename"]}),
    "lora_add_hashes_to_infotext": OptionInfo(True, "Add Lora hashes to infotext"),
    "lora_show_all": OptionInfo(False, "Always show all networks on the Lora page")
    .info("otherwise, those detected as for incompatible version of Stable Diffusion will be hidden"),
    "lora_hide_unknown_for_versions": OptionInfo([], "Hide networks of unknown versions for model versions",
                                                 CheckboxGroup, {"choices": ["SD1", "SD2", "SDXL"]}),
    "lora_in_memory_limit": OptionInfo(0, "Number of Lora networks to keep cached in memory", Number,
                                       {"precision": 0}),
}))

options_templates.update(options_section(("ui_prompt_editing", "Prompt editing", "ui"), {
    "keyedit_precision_attention": OptionInfo(0.1, "Precision for (attention:1.1) when editing the prompt with "
                                                   "Ctrl+up/down", Slider, _slider(0.01, 0.2, 0.001)),
    "keyedit_precision_extra": OptionInfo(0.05, "Precision for <extra networks:0.9> when editing the prompt with "
                                                "Ctrl+up/down", Slider, _slider(0.01, 0.2, 0.001)),
    "keyedit_delimiters": OptionInfo(r".,\/!?%^*;:{}=`~() ", "Word delimiters when editing the prompt with "
                                                             "Ctrl+up/down"),
    "keyedit_move": OptionInfo(True, "Alt+left/right moves prompt elements"),
    "disable_token_counters": OptionInfo(False, "Disable prompt token counters"),
    "include_styles_into_token_counters": OptionInfo(True, "Count tokens of enabled styles")
    .info("When calculating how many tokens the prompt has, also consider tokens added by enabled styles."),
}))

options_templates.update(options_section(("ui_gallery", "Gallery", "ui"), {
    "return_grid": OptionInfo(True, "Show grid in gallery"),
    "do_not_show_images": OptionInfo(False, "Do not show any images in gallery"),
    "js_modal_lightbox": OptionInfo(True, "Full page image viewer: enable"),
    "js_modal_lightbox_initially_zoomed": OptionInfo(True, "Full page image viewer: show images zoomed in by default"),
    "js_modal_lightbox_gamepad": OptionInfo(False, "Full page image viewer: navigate with gamepad"),
    "js_modal_lightbox_gamepad_repeat": OptionInfo(250.0, "Full page image viewer: gamepad repeat period")
    .info("in milliseconds"),
    "gallery_height": OptionInfo("", "Gallery height", Textbox).info("can be any valid CSS value, for example 768px "
                                                                     "or 20em").needs_reload_ui(),
    "open_dir_button_choice": OptionInfo("Subdirectory", "What directory the [📂] button opens", Radio,
                                         {"choices": ["Output Root", "Subdirectory", "Subdirectory (even temp dir)"]}),
}))

options_templates.update(options_section(("ui_alternatives", "UI alternatives", "ui"), {
    "compact_prompt_box": OptionInfo(False, "Compact prompt layout")
    .info("puts prompt and negative prompt inside the Generate tab, leaving more vertical space for the image on the "
          "right").needs_reload_ui(),
    "samplers_in_dropdown": OptionInfo(True, "Use dropdown for sampler selection instead of radio group")
    .needs_reload_ui(),
    "dimensions_and_batch_together": OptionInfo(True, "Show Width/Height and Batch sliders in same row")
    .needs_reload_ui(),
    "sd_checkpoint_dropdown_use_short": OptionInfo(False, "Checkpoint dropdown: use filenames without paths")
    .info("models in subdirectories like photo/sd15.ckpt will be listed as just sd15.ckpt"),
    "hires_fix_show_sampler": OptionInfo(False, "Hires fix: show hires checkpoint and sampler selection")
    .needs_reload_ui(),
    "hires_fix_show_prompts": OptionInfo(False, "Hires fix: show hires prompt and negative prompt").needs_reload_ui(),
    "txt2img_settings_accordion": OptionInfo(False, "Settings in txt2img hidden under Accordion").needs_reload_ui(),
    "img2img_settings_accordion": OptionInfo(False, "Settings in img2img hidden under Accordion").needs_reload_ui(),
    "interrupt_after_current": OptionInfo(True, "Don't Interrupt in the middle")
    .info("when using Interrupt button, if generating more than one image, stop after the generation of an image has "
          "finished, instead of immediately"),
}))

options_templates.update(options_section(("ui", "User interface", "ui"), {
    "gradio_theme": OptionInfo("Default", "Gradio theme", DropdownEditable, {"choices": ["Default"]})
    .needs_reload_ui(),
    "gradio_themes_cache": OptionInfo(True, "Cache gradio themes locally").info("disable to update the selected "
                                                                                "Gradio theme"),
    "show_progress_in_title": OptionInfo(True, "Show generation progress in window title."),
    "send_seed": OptionInfo(True, "Send seed when sending prompt or image to other interface"),
    "send_size": OptionInfo(True, "Send size when sending prompt or image to another interface"),
    "quicksettings_list": OptionInfo(["sd_model_checkpoint"], "Quicksettings list", DropdownMulti,
                                     _choices(lambda: list(_shared().opts.data_labels)))
    .info("setting entries that appear at the top of page rather than in settings tab").needs_reload_ui(),
    "ui_tab_order": OptionInfo([], "UI tab order", DropdownMulti, _choices(lambda: _shared().tab_names))
    .needs_reload_ui(),
    "hidden_tabs": OptionInfo([], "Hidden UI tabs", DropdownMulti, _choices(lambda: _shared().tab_names))
    .needs_reload_ui(),
    "ui_reorder_list": OptionInfo([], "UI item order for txt2img/img2img tabs", DropdownMulti,
                                  {"choices": ui_reorder_categories})
    .info("selected items appear first").needs_reload_ui(),
}))

options_templates.update(options_section(("infotext", "Infotext", "ui"), {
    "infotext_explanation": OptionHTML("""
Infotext: the generation parameters of a picture, written as text under the image and into its metadata. Paste it
into the prompt box and press the paste button to restore every parameter.
"""),
    "enable_pnginfo": OptionInfo(True, "Write infotext to metadata of the generated image"),
    "save_txt": OptionInfo(False, "Create a text file with infotext next to every generated image"),
    "add_model_name_to_info": OptionInfo(True, "Add model name to infotext"),
    "add_model_hash_to_info": OptionInfo(True, "Add model hash to infotext"),
    "add_vae_name_to_info": OptionInfo(True, "Add VAE name to infotext"),
    "add_vae_hash_to_info": OptionInfo(True, "Add VAE hash to infotext"),
    "add_user_name_to_info": OptionInfo(False, "Add user name to infotext when authenticated"),
    "add_version_to_infotext": OptionInfo(True, "Add program version to infotext"),
    "disable_weights_auto_swap": OptionInfo(True, "Disregard checkpoint information from pasted infotext")
    .info("when reading generation parameters from text into UI"),
    "infotext_skip_pasting": OptionInfo([], "Disregard fields from pasted infotext", DropdownMulti,
                                        _choices(lambda: [info.infotext for info in _shared().opts.data_labels.values()
                                                          if info.infotext]))
    .info("when reading generation parameters from text into UI"),
    "infotext_styles": OptionInfo("Apply if any", "Infer styles from prompts of pasted infotext", Radio,
                                  {"choices": ["Ignore", "Apply", "Discard", "Apply if any"]})
    .info("when reading generation parameters from text into UI)").html("""<ul style='margin-left: 1.5em'>
<li>Ignore: leave the prompt and the styles dropdown untouched.</li>
<li>Apply: take the style text out of the prompt and set the styles dropdown to the styles found, even none.</li>
<li>Discard: take the style text out of the prompt, leave the styles dropdown untouched.</li>
<li>Apply if any: take the style text out of the prompt; set the styles dropdown only when styles were found.</li>
</ul>"""),
}))

options_templates.update(options_section(("ui", "Live previews", "ui"), {
    "show_progressbar": OptionInfo(True, "Show progressbar"),
    "live_previews_enable": OptionInfo(True, "Show live previews of the created image"),
    "live_previews_image_format": OptionInfo("png", "Live preview file format", Radio,
                                             {"choices": ["jpeg", "png", "webp"]}),
    "show_progress_grid": OptionInfo(True, "Show previews of all images generated in a batch as a grid"),
    "show_progress_every_n_steps": OptionInfo(10, "Live preview display period", Slider, _slider(-1, 32, 1))
    .info("in sampling steps - show new live preview image every N sampling steps; -1 = only show after completion "
          "of batch"),
    "show_progress_type": OptionInfo("Approx cheap", "Live preview method", Radio,
                                     {"choices": ["Full", "Approx cheap"]})
    .info("Full = slow but pretty; Approx cheap = super fast but terrible otherwise"),
    "live_preview_allow_lowvram_full": OptionInfo(False, "Allow Full live preview method with lowvram/medvram")
    .info("If not, Approx cheap will be used instead; Full live preview method is very detrimental to speed if "
          "lowvram/medvram optimizations are enabled"),
    "live_preview_content": OptionInfo("Prompt", "Live preview subject", Radio,
                                       {"choices": ["Combined", "Prompt", "Negative prompt"]}),
    "live_preview_refresh_period": OptionInfo(1000, "Progressbar and preview update period").info("in milliseconds"),
    "live_preview_fast_interrupt": OptionInfo(False, "Return image with chosen live preview method on interrupt")
    .info("makes interrupts faster"),
    "js_live_preview_in_modal_lightbox": OptionInfo(False, "Show Live preview in full page image viewer"),
    "prevent_screen_sleep_during_generation": OptionInfo(True, "Prevent screen sleep during generation"),
}))

options_templates.update(options_section(("sampler-params", "Sampler parameters", "sd"), {
    "hide_samplers": OptionInfo([], "Hide samplers in user interface", CheckboxGroup,
                                _choices(lambda: [x.name for x in _module("modules.sd_samplers").all_samplers]))
    .needs_reload_ui(),
    "eta_ddim": OptionInfo(0.0, "Eta for DDIM", Slider, _slider(0.0, 1.0, 0.01), infotext="Eta DDIM")
    .info("noise multiplier; higher = more unpredictable results"),
    "eta_ancestral": OptionInfo(1.0, "Eta for k-diffusion samplers", Slider, _slider(0.0, 1.0, 0.01), infotext="Eta")
    .info("noise multiplier; currently only applies to ancestral samplers (i.e. Euler a) and SDE samplers"),
    "ddim_discretize": OptionInfo("uniform", "img2img DDIM discretize", Radio, {"choices": ["uniform", "quad"]}),
    "s_churn": OptionInfo(0.0, "sigma churn", Slider, _slider(0.0, 100.0, 0.01), infotext="Sigma churn")
    .info("amount of stochasticity; only applies to Euler, Heun, and DPM2"),
    "s_tmin": OptionInfo(0.0, "sigma tmin", Slider, _slider(0.0, 10.0, 0.01), infotext="Sigma tmin")
    .info("enable stochasticity; start value of the sigma range; only applies to Euler, Heun, and DPM2"),
    "s_tmax": OptionInfo(0.0, "sigma tmax", Slider, _slider(0.0, 999.0, 0.01), infotext="Sigma tmax")
    .info("0 = inf; end value of the sigma range; only applies to Euler, Heun, and DPM2"),
    "s_noise": OptionInfo(1.0, "sigma noise", Slider, _slider(0.0, 1.1, 0.001), infotext="Sigma noise")
    .info("amount of additional noise to counteract loss of detail during sampling"),
    "sigma_min": OptionInfo(0.0, "sigma min", Number, infotext="Schedule min sigma")
    .info("0 = default (~0.03); minimum noise strength for k-diffusion noise scheduler"),
    "sigma_max": OptionInfo(0.0, "sigma max", Number, infotext="Schedule max sigma")
    .info("0 = default (~14.6); maximum noise strength for k-diffusion noise scheduler"),
    "rho": OptionInfo(0.0, "rho", Number, infotext="Schedule rho")
    .info("0 = default (7 for karras, 1 for polyexponential); higher values result in a steeper noise schedule "
          "(decreases faster)"),
    "eta_noise_seed_delta": OptionInfo(0, "Eta noise seed delta", Number, {"precision": 0}, infotext="ENSD")
    .info("ENSD; does not improve anything, just produces different results for ancestral samplers - only useful "
          "for reproducing images"),
    "always_discard_next_to_last_sigma": OptionInfo(False, "Always discard next-to-last sigma",
                                                    infotext="Discard penultimate sigma"),
    "sgm_noise_multiplier": OptionInfo(False, "SGM noise multiplier", infotext="SGM noise multiplier")
    .info("Match initial noise to official SDXL implementation - only useful for reproducing images"),
    "uni_pc_variant": OptionInfo("bh1", "UniPC variant", Radio, {"choices": ["bh1", "bh2", "vary_coeff"]},
                                 infotext="UniPC variant"),
    "uni_pc_skip_type": OptionInfo("time_uniform", "UniPC skip type", Radio,
                                   {"choices": ["time_uniform", "time_quadratic", "logSNR"]}, infotext="UniPC skip type"),
    "uni_pc_order": OptionInfo(3, "UniPC order", Slider, _slider(1, 50, 1), infotext="UniPC order")
    .info("must be < sampling steps"),
    "uni_pc_lower_order_final": OptionInfo(True, "UniPC lower order final", infotext="UniPC lower order final"),
    "sd_noise_schedule": OptionInfo("Default", "Noise schedule for sampling", Radio,
                                    {"choices": ["Default", "Zero Terminal SNR"]}, infotext="Noise Schedule")
    .info("for use with zero terminal SNR trained models"),
    "skip_early_cond": OptionInfo(0.0, "Ignore negative prompt during early sampling", Slider, _slider(0.0, 1.0, 0.01),
                                  infotext="Skip Early CFG")
    .info("disables CFG on a proportion of steps at the beginning of generation; 0=skip none; 1=skip all; can both "
          "improve sample diversity/quality and speed up sampling"),
    "beta_dist_alpha": OptionInfo(0.6, "Beta scheduler - alpha", Slider, _slider(0.01, 1.0, 0.01),
                                  infotext="Beta scheduler alpha").info("Default = 0.6; the alpha parameter of the "
                                                                        "beta distribution used in Beta sampling"),
    "beta_dist_beta": OptionInfo(0.6, "Beta scheduler - beta", Slider, _slider(0.01, 1.0, 0.01),
                                 infotext="Beta scheduler beta").info("Default = 0.6; the beta parameter of the beta "
                                                                      "distribution used in Beta sampling"),
}))

options_templates.update(options_section(("postprocessing", "Postprocessing", "postprocessing"), {
    "postprocessing_enable_in_main_ui": OptionInfo([], "Enable postprocessing operations in txt2img and img2img tabs",
                                                   DropdownMulti, {"choices": []}),
    "postprocessing_disable_in_extras": OptionInfo([], "Disable postprocessing operations in extras tab",
                                                   DropdownMulti, {"choices": []}),
    "postprocessing_operation_order": OptionInfo([], "Postprocessing operation order", DropdownMulti,
                                                 {"choices": []}),
    "upscaling_max_images_in_cache": OptionInfo(5, "Maximum number of images in upscaling cache", Slider,
                                                _slider(0, 10, 1)),
    "postprocessing_existing_caption_action": OptionInfo("Ignore", "Action for existing captions", Radio,
                                                         {"choices": ["Ignore", "Keep", "Prepend", "Append"]})
    .info("when generating captions using postprocessing; Ignore = use generated; Keep = use original; Prepend/Append"
          " = combine both"),
}))

options_templates.update(options_section((None, "Hidden options"), {
    "disabled_extensions": OptionInfo([], "Disable these extensions"),
    "disable_all_extensions": OptionInfo("none", "Disable all extensions (preserves the list of disabled extensions)",
                                         Radio, {"choices": ["none", "extra", "all"]}),
    "restore_config_state_file": OptionInfo("", "Config state file to restore from, under 'config-states/' folder"),
    "sd_checkpoint_hash": OptionInfo("", "SHA256 hash of the current checkpoint"),
}))
