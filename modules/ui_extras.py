"""The Extras tab (A1111's): upscale one image, uploaded images, or a folder's images by a factor or to a size with one
or two upscalers; the results are shown and saved (in the extras output folder, or for a folder, an output folder in
the data dir) with each source's infotext and a "postprocessing" text."""

import os

import gradio as gr
from PIL import Image

from modules import images, output_paths, paths_internal, postprocessing, shared
from modules.api.models import ExtrasBaseRequest
from modules.ui_common import plaintext_to_html
from modules.ui_progress import error_html

RESIZE_MODES = ("Scale by", "Scale to")
MODE_SINGLE, MODE_BATCH, MODE_DIRECTORY = 0, 1, 2
"""A1111's extras_mode: the Single Image, Batch Process and Batch from Directory tabs."""


def upscaler_names() -> list[str]:
    return ["None", *(upscaler.name for upscaler in shared.sd_upscalers)]


def _request(resize_mode: str, upscaling_resize: float, width: int, height: int, crop: bool, upscaler_1: str,
             upscaler_2: str, upscaler_2_visibility: float) -> ExtrasBaseRequest:
    req = ExtrasBaseRequest(resize_mode=RESIZE_MODES.index(resize_mode), upscaling_resize=upscaling_resize,
                            upscaling_resize_w=int(width), upscaling_resize_h=int(height), upscaling_crop=bool(crop),
                            upscaler_1=upscaler_1, upscaler_2=upscaler_2,
                            extras_upscaler_2_visibility=upscaler_2_visibility)
    postprocessing.check_request(req)
    return req


def _upscale_and_save(generation_lock, sources: list[tuple[Image.Image, str | None]], folder: str | None,
                      req: ExtrasBaseRequest) -> tuple[list[Image.Image], list[str]]:
    """Each (image, its file's name or None) upscaled and saved (under its own name when use_original_name_batch
    says so) in folder, else the extras output folder."""
    options = shared.opts
    results, texts = [], []
    for image, name in sources:
        with generation_lock:
            result, text = postprocessing.process(images.fix_image(image), req)
        forced = os.path.splitext(name)[0] if name and options.use_original_name_batch else None
        images.save_image(result, folder or options.outdir_samples or options.outdir_extras_samples, "",
                          extension=options.samples_format, info=text, short_filename=True, no_prompt=True,
                          pnginfo_section_name="extras", existing_info=dict(result.info), forced_filename=forced)
        results.append(result)
        texts.append(text)
    return results, texts


def run_postprocessing(generation_lock, image, resize_mode: str, upscaling_resize: float, width: int, height: int,
                       crop: bool, upscaler_1: str, upscaler_2: str, upscaler_2_visibility: float):
    """([the result], HTML info, HTML log); a refusal (no image, a size over the limit) is an error in the log."""
    return run_tab(generation_lock, MODE_SINGLE, image, None, "", "", True, resize_mode, upscaling_resize, width,
                   height, crop, upscaler_1, upscaler_2, upscaler_2_visibility)


def _batch_sources(mode: int, image, files, input_dir: str) -> list[tuple[Image.Image, str | None]]:
    if mode == MODE_SINGLE:
        if image is None:
            raise ValueError("No image: upload one to upscale")
        return [(image, None)]
    if mode == MODE_BATCH:
        paths = [getattr(file, "name", file) for file in files or []]
        if not paths:
            raise ValueError("No images: upload the images to upscale")
    else:
        if shared.cmd_opts.hide_ui_dir_config:
            raise ValueError("Batch from Directory is turned off by --hide-ui-dir-config")
        try:
            paths = images.image_files_in(input_dir)
        except ValueError as error:
            raise ValueError(f"Input directory: {error}") from error
        if not paths:
            raise ValueError(f"Input directory: no images in {input_dir}")
    sources = []
    for path in paths:
        try:
            with Image.open(path) as opened:
                opened.load()
                sources.append((opened, os.path.basename(path)))
        except OSError as error:
            raise ValueError(f"{os.path.basename(path)}: not an image ({error})") from error
    return sources


def _output_folder(mode: int, output_dir: str) -> str | None:
    """Batch from Directory's output folder: inside the data dir (the server writes nowhere else); None: the extras
    output folder."""
    if mode != MODE_DIRECTORY or not output_dir:
        return None
    return output_paths.folder_in_data_dir("Output directory", output_dir, paths_internal.data_path)


def run_tab(generation_lock, mode: int, image, files, input_dir: str, output_dir: str, show_results: bool,
            *upscale_fields):
    """The tab's Generate for its mode (one image, uploaded images, a folder): ([shown results], HTML info,
    HTML log); a refusal is an error in the log, nothing saved."""
    try:
        req = _request(*upscale_fields)
        sources = _batch_sources(int(mode), image, files, input_dir)
        folder = _output_folder(int(mode), output_dir)
        results, texts = _upscale_and_save(generation_lock, sources, folder, req)
    except ValueError as error:  # pydantic's ValidationError and PostprocessingError are ValueErrors
        return [], "", error_html(str(error))
    shown = results if int(mode) != MODE_DIRECTORY or show_results else []
    return shown, plaintext_to_html(texts[0]), ""


def create_tab(generation_lock):
    with gr.Row(equal_height=False):
        with gr.Column(variant="panel"):
            mode = gr.State(MODE_SINGLE)
            with gr.Tabs(elem_id="mode_extras"):
                with gr.Tab("Single Image", id="single_image", elem_id="extras_single_tab") as single_tab:
                    image = gr.Image(elem_id="extras_image", label="Source", type="pil", image_mode="RGBA",
                                     sources=["upload", "clipboard"], height=360)
                with gr.Tab("Batch Process", id="batch_process", elem_id="extras_batch_process_tab") as batch_tab:
                    files = gr.File(label="Batch Process", file_count="multiple", elem_id="extras_image_batch")
                with gr.Tab("Batch from Directory", id="batch_from_directory",
                            elem_id="extras_batch_directory_tab") as directory_tab:
                    hidden = shared.cmd_opts.hide_ui_dir_config
                    input_dir = gr.Textbox(label="Input directory", elem_id="extras_batch_input_dir",
                                           interactive=not hidden)
                    output_dir = gr.Textbox(label="Output directory (in the data folder; empty: the extras folder)",
                                            elem_id="extras_batch_output_dir", interactive=not hidden)
                    show_results = gr.Checkbox(label="Show result images", value=True,
                                               elem_id="extras_show_extras_results")
            for tab, number in ((single_tab, MODE_SINGLE), (batch_tab, MODE_BATCH), (directory_tab, MODE_DIRECTORY)):
                tab.select(fn=lambda number=number: number, outputs=[mode], show_progress="hidden",
                           api_visibility="private")
            resize_mode = gr.Radio(list(RESIZE_MODES), value=RESIZE_MODES[0], label="Resize",
                                   elem_id="extras_resize_mode")
            upscaling_resize = gr.Slider(1.0, 8.0, value=2.0, step=0.05, label="Resize",
                                         elem_id="extras_upscaling_resize")
            with gr.Row():
                width = gr.Slider(64, 8192, value=512, step=8, label="Width", elem_id="extras_upscaling_resize_w")
                height = gr.Slider(64, 8192, value=512, step=8, label="Height", elem_id="extras_upscaling_resize_h")
                crop = gr.Checkbox(value=True, label="Crop to fit", elem_id="extras_upscaling_crop")
            with gr.Row():
                upscaler_1 = gr.Dropdown(upscaler_names(), value="None", label="Upscaler 1", elem_id="extras_upscaler_1")
                upscaler_2 = gr.Dropdown(upscaler_names(), value="None", label="Upscaler 2", elem_id="extras_upscaler_2")
                visibility = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="Upscaler 2 visibility",
                                       elem_id="extras_upscaler_2_visibility")
            generate = gr.Button("Generate", variant="primary", elem_id="extras_generate")
        with gr.Column(variant="panel"):
            gallery = gr.Gallery(label="Output", show_label=False, elem_id="extras_gallery", format="png",
                                 type="pil", interactive=False, object_fit="contain")
            info = gr.HTML(elem_id="html_info_extras", elem_classes="infotext")
            log = gr.HTML(elem_id="html_log_extras")
    generate.click(fn=lambda *values: run_tab(generation_lock, *values),
                   inputs=[mode, image, files, input_dir, output_dir, show_results, resize_mode, upscaling_resize,
                           width, height, crop, upscaler_1, upscaler_2, visibility], outputs=[gallery, info, log],
                   api_visibility="private")
