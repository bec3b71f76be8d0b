"""The txt2img tab."""

from dataclasses import dataclass

import gradio as gr

from modules import scripts, txt2img, ui_common, ui_extra_networks, ui_params, ui_paste
from modules.ui_common import OutputPanel
from modules.ui_components import FormRow
from modules.ui_model_defaults import ModelUiDefaults
from modules.ui_toprow import Toprow


@dataclass
class Txt2ImgTab:
    toprow: Toprow
    panel: OutputPanel
    fields: dict


def _hires_enabled(params: dict) -> bool:
    return "Denoising strength" in params and any(key in params for key in
                                                  ("Hires upscale", "Hires upscaler", "Hires resize-1"))


def create_tab(jobs, defaults: ModelUiDefaults = ModelUiDefaults()) -> Txt2ImgTab:
    toprow = Toprow("txt2img", prompt_placeholder=defaults.prompt_placeholder, prompt_value=defaults.example_prompt)
    with gr.Tabs(elem_id="txt2img_extra_tabs", elem_classes="extra-networks"):
        with gr.Tab("Generation", id="txt2img_generation", elem_id="txt2img_generation"):
            with gr.Row(elem_id="txt2img_extra_row", equal_height=False):
                with gr.Column(elem_id="txt2img_settings", scale=5, min_width=360):
                    sampler_name, scheduler, steps = ui_params.sampler_and_steps("txt2img")
                    hires = ui_params.hires_fix("txt2img")
                    refiner = ui_params.refiner("txt2img")
                    with FormRow(elem_id="txt2img_dimensions_row"):
                        width, height = ui_params.dimensions("txt2img", defaults.width, defaults.height)
                        n_iter, batch_size = ui_params.batch("txt2img")
                    cfg_scale = ui_params.cfg_scale("txt2img")
                    seed = ui_params.seed_inputs("txt2img")
                    with gr.Group(elem_id="txt2img_script_container"):
                        script_inputs = scripts.scripts_txt2img.setup_ui()
                with gr.Column(scale=6, min_width=360):
                    panel = ui_common.create_output_panel("txt2img")
        ui_extra_networks.create_ui("txt2img", toprow.prompt)

    seed.connect_reuse(panel)
    toprow.connect_token_counters(steps)
    common = ui_params.GenerationInputs(toprow, steps, sampler_name, scheduler, n_iter, batch_size, cfg_scale,
                                        width, height, seed)
    fields = {
        **common.fields(),
        "enable_hr": hires.enable_hr, "denoising_strength": hires.denoising_strength, "hr_scale": hires.hr_scale,
        "hr_upscaler": hires.hr_upscaler, "hr_second_pass_steps": hires.hr_second_pass_steps,
        "hr_resize_x": hires.hr_resize_x, "hr_resize_y": hires.hr_resize_y, **refiner.fields(),
    }
    ui_common.connect_generation("txt2img", toprow, panel, txt2img.txt2img_spec, txt2img.process_result, fields, jobs,
                                 script_inputs)

    ui_paste.add_paste_fields("txt2img", [
        *common.paste_fields(),
        (hires.enable_hr, _hires_enabled),
        (hires.accordion, lambda d: gr.update(open=True) if _hires_enabled(d) else None),
        (hires.denoising_strength, lambda d: d.get("Denoising strength") if _hires_enabled(d) else None),
        (hires.hr_scale, "Hires upscale"),
        (hires.hr_upscaler, "Hires upscaler"),
        (hires.hr_second_pass_steps, "Hires steps"),
        (hires.hr_resize_x, "Hires resize-1"),
        (hires.hr_resize_y, "Hires resize-2"),
        *refiner.paste_fields(),
        *scripts.scripts_txt2img.infotext_fields,
    ])
    ui_paste.connect_paste(toprow.paste, "txt2img", toprow.prompt)
    return Txt2ImgTab(toprow, panel, fields)
