"""The img2img tab, with A1111's img2img, Sketch, Inpaint, Inpaint sketch and Inpaint upload sub-tabs."""

from dataclasses import dataclass

import gradio as gr

from modules import img2img, scripts, shared, txt2img, ui_common, ui_extra_networks, ui_params, ui_paste
from modules.ui_common import OutputPanel
from modules.ui_components import FormRow
from modules.ui_model_defaults import ModelUiDefaults
from modules.ui_toprow import Toprow

IMG2IMG_TAB_ID = "img2img_img2img_tab"
INPAINT_TAB_ID = "img2img_inpaint_tab"
SKETCH_TAB_ID = "img2img_img2img_sketch_tab"
INPAINT_SKETCH_TAB_ID = "img2img_inpaint_sketch_tab"
INPAINT_UPLOAD_TAB_ID = "img2img_inpaint_upload_tab"


@dataclass
class Img2ImgTab:
    toprow: Toprow
    panel: OutputPanel
    fields: dict
    mode_tabs: gr.Tabs
    init_img: gr.Image
    init_img_with_mask: gr.ImageEditor
    mode: gr.State
    inpaint_controls: gr.Group


def editor_value(image):
    """An image as the inpaint editor's value: the picture as background, no mask painted yet."""
    return {"background": image, "layers": [], "composite": image}


def color_sketch_editor(label: str, elem_id: str) -> gr.ImageEditor:
    """A1111's color-sketch image: an uploaded picture to draw over in any colour."""
    return gr.ImageEditor(label=label, elem_id=elem_id, type="pil", image_mode="RGBA", sources=["upload", "clipboard"],
                          layers=False, transforms=(), brush=gr.Brush(color_mode="defaults"),
                          height=shared.opts.img2img_editor_height // 2, format="png")


def create_inpaint_controls():
    with gr.Group(visible=False, elem_id="inpaint_controls") as group:
        with FormRow():
            mask_blur = gr.Slider(label="Mask blur", minimum=0, maximum=64, step=1, value=4,
                                  elem_id="img2img_mask_blur")
            mask_alpha = gr.Slider(label="Mask transparency", minimum=0, maximum=100, step=1, value=0,
                                   elem_id="img2img_mask_alpha", visible=False)
            inpainting_mask_invert = gr.Radio(label="Mask mode", choices=img2img.mask_modes,
                                              value=img2img.mask_modes[0], elem_id="img2img_mask_mode")
        inpainting_fill = gr.Radio(label="Masked content", choices=img2img.masked_content_options,
                                   value="original", elem_id="img2img_inpainting_fill")
        with FormRow():
            inpaint_full_res = gr.Radio(label="Inpaint area", choices=img2img.inpaint_areas,
                                        value=img2img.inpaint_areas[0], elem_id="img2img_inpaint_full_res")
            inpaint_full_res_padding = gr.Slider(label="Only masked padding, pixels", minimum=0, maximum=256, step=4,
                                                 value=32, elem_id="img2img_inpaint_full_res_padding")
    controls = {"mask_blur": mask_blur, "mask_alpha": mask_alpha, "inpainting_mask_invert": inpainting_mask_invert,
                "inpainting_fill": inpainting_fill, "inpaint_full_res": inpaint_full_res,
                "inpaint_full_res_padding": inpaint_full_res_padding}
    return group, controls


def create_tab(jobs, defaults: ModelUiDefaults = ModelUiDefaults()) -> Img2ImgTab:
    toprow = Toprow("img2img", prompt_placeholder=defaults.prompt_placeholder, prompt_value=defaults.example_prompt)
    mode = gr.State(img2img.MODE_IMG2IMG)
    with gr.Tabs(elem_id="img2img_extra_tabs", elem_classes="extra-networks"):
        with gr.Tab("Generation", id="img2img_generation", elem_id="img2img_generation"):
            with gr.Row(elem_id="img2img_extra_row", equal_height=False):
                with gr.Column(elem_id="img2img_settings", scale=5, min_width=360):
                    with gr.Tabs(elem_id="mode_img2img", selected=IMG2IMG_TAB_ID) as mode_tabs:
                        with gr.Tab("img2img", id=IMG2IMG_TAB_ID, elem_id=IMG2IMG_TAB_ID) as img2img_tab:
                            init_img = gr.Image(label="Image for img2img", elem_id="img2img_image", type="pil",
                                                image_mode="RGBA", sources=["upload", "clipboard"], height=360)
                        with gr.Tab("Inpaint", id=INPAINT_TAB_ID, elem_id=INPAINT_TAB_ID) as inpaint_tab:
                            init_img_with_mask = gr.ImageEditor(
                                label="Image for inpainting with mask", elem_id="img2maskimg", type="pil",
                                image_mode="RGBA", sources=["upload", "clipboard"], layers=False, transforms=(),
                                brush=gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed"),
                                height=shared.opts.img2img_editor_height // 2, format="png")
                        with gr.Tab("Sketch", id=SKETCH_TAB_ID, elem_id=SKETCH_TAB_ID) as sketch_tab:
                            sketch = color_sketch_editor("Image for img2img", "img2img_sketch")
                        with gr.Tab("Inpaint sketch", id=INPAINT_SKETCH_TAB_ID,
                                    elem_id=INPAINT_SKETCH_TAB_ID) as inpaint_sketch_tab:
                            inpaint_color_sketch = color_sketch_editor("Color sketch inpainting", "inpaint_sketch")
                        with gr.Tab("Inpaint upload", id=INPAINT_UPLOAD_TAB_ID,
                                    elem_id=INPAINT_UPLOAD_TAB_ID) as inpaint_upload_tab:
                            init_img_inpaint = gr.Image(label="Image for img2img", type="pil", image_mode="RGBA",
                                                        sources=["upload", "clipboard"], elem_id="img_inpaint_base")
                            init_mask_inpaint = gr.Image(label="Mask", type="pil", image_mode="RGBA",
                                                         sources=["upload", "clipboard"], elem_id="img_inpaint_mask")
                    resize_mode = gr.Radio(label="Resize mode", elem_id="resize_mode", choices=img2img.resize_modes,
                                           value=img2img.resize_modes[0])
                    sampler_name, scheduler, steps = ui_params.sampler_and_steps("img2img")
                    with FormRow(elem_id="img2img_dimensions_row"):
                        width, height = ui_params.dimensions("img2img", defaults.width, defaults.height)
                        n_iter, batch_size = ui_params.batch("img2img")
                    cfg_scale = ui_params.cfg_scale("img2img")
                    denoising_strength = gr.Slider(minimum=0.0, maximum=1.0, step=0.01, label="Denoising strength",
                                                   value=0.75, elem_id="img2img_denoising_strength")
                    seed = ui_params.seed_inputs("img2img")
                    refiner = ui_params.refiner("img2img")
                    inpaint_group, inpaint = create_inpaint_controls()
                    with gr.Group(elem_id="img2img_script_container"):
                        script_inputs = scripts.scripts_img2img.setup_ui()
                with gr.Column(scale=6, min_width=360):
                    panel = ui_common.create_output_panel("img2img")
        ui_extra_networks.create_ui("img2img", toprow.prompt)

    for tab, tab_mode in ((img2img_tab, img2img.MODE_IMG2IMG), (sketch_tab, img2img.MODE_SKETCH),
                          (inpaint_tab, img2img.MODE_INPAINT), (inpaint_sketch_tab, img2img.MODE_INPAINT_SKETCH),
                          (inpaint_upload_tab, img2img.MODE_INPAINT_UPLOAD)):
        inpainting = tab_mode in (img2img.MODE_INPAINT, img2img.MODE_INPAINT_SKETCH, img2img.MODE_INPAINT_UPLOAD)
        tab.select(fn=lambda tab_mode=tab_mode, inpainting=inpainting: (
            tab_mode, gr.Group(visible=inpainting), gr.update(visible=tab_mode == img2img.MODE_INPAINT_SKETCH)),
            outputs=[mode, inpaint_group, inpaint["mask_alpha"]], show_progress="hidden", api_visibility="private")
    seed.connect_reuse(panel)

    toprow.connect_token_counters(steps)
    common = ui_params.GenerationInputs(toprow, steps, sampler_name, scheduler, n_iter, batch_size, cfg_scale,
                                        width, height, seed)
    fields = {
        **common.fields(), "mode": mode, "init_img": init_img, "init_img_with_mask": init_img_with_mask, **inpaint,
        "sketch": sketch, "inpaint_color_sketch": inpaint_color_sketch, "init_img_inpaint": init_img_inpaint,
        "init_mask_inpaint": init_mask_inpaint,
        "denoising_strength": denoising_strength, "resize_mode": resize_mode, **refiner.fields(),
    }
    ui_common.connect_generation("img2img", toprow, panel, img2img.img2img_spec, txt2img.process_result, fields, jobs,
                                 script_inputs)

    ui_paste.add_paste_fields("img2img", [
        *common.paste_fields(),
        (denoising_strength, "Denoising strength"),
        (inpaint["mask_blur"], "Mask blur"),
        (inpaint["inpainting_mask_invert"], "Mask mode"),
        (inpaint["inpainting_fill"], "Masked content"),
        (inpaint["inpaint_full_res"], "Inpaint area"),
        (inpaint["inpaint_full_res_padding"], "Masked area padding"),
        *refiner.paste_fields(),
        *scripts.scripts_img2img.infotext_fields,
    ])
    ui_paste.connect_paste(toprow.paste, "img2img", toprow.prompt)
    return Img2ImgTab(toprow, panel, fields, mode_tabs, init_img, init_img_with_mask, mode, inpaint_group)
