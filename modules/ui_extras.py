"""The Extras tab (A1111's): upscale one image by a factor or to a size with one or two upscalers; the result is
shown and saved in the extras output folder with its source's infotext and a "postprocessing" text."""

import gradio as gr

from modules import images, postprocessing, shared
from modules.api.models import ExtrasBaseRequest
from modules.ui_common import plaintext_to_html
from modules.ui_progress import error_html

RESIZE_MODES = ("Scale by", "Scale to")


def upscaler_names() -> list[str]:
    return ["None", *(upscaler.name for upscaler in shared.sd_upscalers)]


def run_postprocessing(generation_lock, image, resize_mode: str, upscaling_resize: float, width: int, height: int,
                       crop: bool, upscaler_1: str, upscaler_2: str, upscaler_2_visibility: float):
    """([the result], HTML info, HTML log); a refusal (no image, a size over the limit) is an error in the log."""
    if image is None:
        return [], "", error_html("No image: upload one to upscale")
    try:
        req = ExtrasBaseRequest(resize_mode=RESIZE_MODES.index(resize_mode), upscaling_resize=upscaling_resize,
                                upscaling_resize_w=int(width), upscaling_resize_h=int(height),
                                upscaling_crop=bool(crop), upscaler_1=upscaler_1, upscaler_2=upscaler_2,
                                extras_upscaler_2_visibility=upscaler_2_visibility)
        postprocessing.check_request(req)
        with generation_lock:
            result, text = postprocessing.process(images.fix_image(image), req)
    except ValueError as error:  # pydantic's ValidationError and PostprocessingError are ValueErrors
        return [], "", error_html(str(error))
    options = shared.opts
    images.save_image(result, options.outdir_samples or options.outdir_extras_samples, "",
                      extension=options.samples_format, info=text, short_filename=True, no_prompt=True,
                      pnginfo_section_name="extras", existing_info=dict(result.info))
    return [result], plaintext_to_html(text), ""


def create_tab(generation_lock):
    with gr.Row(equal_height=False):
        with gr.Column(variant="panel"):
            image = gr.Image(elem_id="extras_image", label="Source", type="pil", image_mode="RGBA",
                             sources=["upload", "clipboard"], height=360)
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
    generate.click(fn=lambda *values: run_postprocessing(generation_lock, *values),
                   inputs=[image, resize_mode, upscaling_resize, width, height, crop, upscaler_1, upscaler_2,
                           visibility], outputs=[gallery, info, log], api_visibility="private")
