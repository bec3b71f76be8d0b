"""Generation parameter widgets shared by txt2img and img2img, with A1111's labels, ranges and defaults."""

from dataclasses import dataclass

import gradio as gr

from modules import image_size, sd_models, sd_samplers, sd_schedulers, shared, upscaler
from modules.ui_common import OutputPanel, selected_seed
from modules.ui_components import FormRow, ToolButton, random_symbol, reuse_symbol, switch_values_symbol


def sampler_and_steps(tabname: str):
    names = sd_samplers.visible_sampler_names()
    default = "DPM++ 2M" if "DPM++ 2M" in names else names[0]
    with FormRow(elem_id=f"sampler_selection_{tabname}"):
        sampler_name = gr.Dropdown(label="Sampling method", elem_id=f"{tabname}_sampling", choices=names,
                                   value=default)
        scheduler = gr.Dropdown(label="Schedule type", elem_id=f"{tabname}_scheduler",
                                choices=[s.label for s in sd_schedulers.schedulers], value="Automatic")
        steps = gr.Slider(minimum=1, maximum=150, step=1, elem_id=f"{tabname}_steps", label="Sampling steps",
                          value=20)
    return sampler_name, scheduler, steps


def dimensions(tabname: str, default_width: int = 512, default_height: int = 512):
    limits = {"minimum": image_size.MIN_SIZE, "maximum": image_size.MAX_SIZE, "step": image_size.SIZE_STEP}
    with gr.Column(elem_id=f"{tabname}_column_size", scale=4):
        width = gr.Slider(**limits, label="Width", value=default_width, elem_id=f"{tabname}_width")
        height = gr.Slider(**limits, label="Height", value=default_height, elem_id=f"{tabname}_height")
    swap = ToolButton(switch_values_symbol, elem_id=f"{tabname}_res_switch_btn")
    swap.click(fn=lambda w, h: (h, w), inputs=[width, height], outputs=[width, height], show_progress="hidden",
               api_visibility="private")
    return width, height


def batch(tabname: str):
    with gr.Column(elem_id=f"{tabname}_column_batch", scale=2):
        n_iter = gr.Slider(minimum=1, maximum=shared.cmd_opts.max_batch_count, step=1, label="Batch count", value=1,
                           elem_id=f"{tabname}_batch_count")
        batch_size = gr.Slider(minimum=1, maximum=8, step=1, label="Batch size", value=1,
                               elem_id=f"{tabname}_batch_size")
    return n_iter, batch_size


def cfg_scale(tabname: str):
    return gr.Slider(minimum=1.0, maximum=30.0, step=0.5, label="CFG Scale", value=7.0, elem_id=f"{tabname}_cfg_scale")


@dataclass
class SeedInputs:
    seed: gr.Number
    random_seed: gr.Button
    reuse_seed: gr.Button
    show_extra: gr.Checkbox
    subseed: gr.Number
    random_subseed: gr.Button
    reuse_subseed: gr.Button
    subseed_strength: gr.Slider
    seed_resize_from_w: gr.Slider
    seed_resize_from_h: gr.Slider

    def fields(self) -> dict:
        """The seed keyword arguments of txt2img()/img2img()."""
        return {"seed": self.seed, "subseed": self.subseed, "subseed_strength": self.subseed_strength,
                "seed_resize_from_h": self.seed_resize_from_h, "seed_resize_from_w": self.seed_resize_from_w,
                "seed_enable_extras": self.show_extra}

    def paste_fields(self) -> list:
        return [
            (self.seed, "Seed"),
            (self.show_extra, lambda d: "Variation seed" in d or "Seed resize from-1" in d),
            (self.subseed, "Variation seed"),
            (self.subseed_strength, "Variation seed strength"),
            (self.seed_resize_from_w, "Seed resize from-1"),
            (self.seed_resize_from_h, "Seed resize from-2"),
        ]

    def connect_reuse(self, panel: OutputPanel) -> None:
        """♻️: the seed of the image selected in the gallery (A1111 reads it from the generation info)."""
        sources = [panel.gallery, panel.selected_index, panel.generation_info]
        for button, target, is_subseed in ((self.reuse_seed, self.seed, False),
                                           (self.reuse_subseed, self.subseed, True)):

            def reuse(gallery, index, info, is_subseed=is_subseed):
                seed = selected_seed(gallery, index, info, subseed=is_subseed)
                return gr.skip() if seed is None else seed

            button.click(fn=reuse, inputs=sources, outputs=[target], show_progress="hidden",
                         api_visibility="private")


def seed_inputs(tabname: str) -> SeedInputs:
    with FormRow(elem_id=f"{tabname}_seed_row"):
        seed = gr.Number(label="Seed", value=-1, precision=0, elem_id=f"{tabname}_seed", min_width=100)
        random_seed = ToolButton(random_symbol, elem_id=f"{tabname}_random_seed")
        reuse_seed = ToolButton(reuse_symbol, elem_id=f"{tabname}_reuse_seed")
        show_extra = gr.Checkbox(label="Extra", value=False, elem_id=f"{tabname}_subseed_show", scale=0,
                                 min_width=80)
    with gr.Group(visible=False, elem_id=f"{tabname}_seed_extras") as extras:
        with FormRow():
            subseed = gr.Number(label="Variation seed", value=-1, precision=0, elem_id=f"{tabname}_subseed")
            random_subseed = ToolButton(random_symbol, elem_id=f"{tabname}_random_subseed")
            reuse_subseed = ToolButton(reuse_symbol, elem_id=f"{tabname}_reuse_subseed")
            subseed_strength = gr.Slider(label="Variation strength", value=0.0, minimum=0, maximum=1, step=0.01,
                                         elem_id=f"{tabname}_subseed_strength")
        with FormRow():
            seed_resize_from_w = gr.Slider(minimum=0, maximum=2048, step=8, label="Resize seed from width", value=0,
                                           elem_id=f"{tabname}_seed_resize_from_w")
            seed_resize_from_h = gr.Slider(minimum=0, maximum=2048, step=8, label="Resize seed from height",
                                           value=0, elem_id=f"{tabname}_seed_resize_from_h")

    random_seed.click(fn=lambda: -1, outputs=[seed], show_progress="hidden", api_visibility="private")
    random_subseed.click(fn=lambda: -1, outputs=[subseed], show_progress="hidden", api_visibility="private")
    show_extra.change(fn=lambda shown: gr.Group(visible=shown), inputs=[show_extra], outputs=[extras],
                      show_progress="hidden", api_visibility="private")
    return SeedInputs(seed, random_seed, reuse_seed, show_extra, subseed, random_subseed, reuse_subseed,
                      subseed_strength, seed_resize_from_w, seed_resize_from_h)


@dataclass
class GenerationInputs:
    """The inputs txt2img and img2img share: prompts, sampling, size, batch, CFG and seed."""

    toprow: object
    steps: gr.Slider
    sampler_name: gr.Dropdown
    scheduler: gr.Dropdown
    n_iter: gr.Slider
    batch_size: gr.Slider
    cfg_scale: gr.Slider
    width: gr.Slider
    height: gr.Slider
    seed: SeedInputs

    def fields(self) -> dict:
        """{keyword argument of txt2img()/img2img(): component}."""
        return {"prompt": self.toprow.prompt, "negative_prompt": self.toprow.negative_prompt,
                "styles": self.toprow.styles, "steps": self.steps, "sampler_name": self.sampler_name,
                "scheduler": self.scheduler, "n_iter": self.n_iter, "batch_size": self.batch_size,
                "cfg_scale": self.cfg_scale, "width": self.width, "height": self.height, **self.seed.fields()}

    def paste_fields(self) -> list:
        """(component, infotext key) pairs for pasting infotext into the tab."""
        return [
            (self.toprow.prompt, "Prompt"),
            (self.toprow.negative_prompt, "Negative prompt"),
            (self.toprow.styles, "Styles array"),
            (self.steps, "Steps"),
            (self.sampler_name, "Sampler"),
            (self.scheduler, "Schedule type"),
            (self.cfg_scale, "CFG scale"),
            (self.width, "Size-1"),
            (self.height, "Size-2"),
            (self.batch_size, "Batch size"),
            *self.seed.paste_fields(),
        ]


def hires_upscaler_names() -> list[str]:
    return [*upscaler.latent_upscale_modes, *(x.name for x in (shared.sd_upscalers or upscaler.sd_upscalers))]


@dataclass
class HiresFix:
    accordion: gr.Accordion
    enable_hr: gr.Checkbox
    hr_upscaler: gr.Dropdown
    hr_second_pass_steps: gr.Slider
    denoising_strength: gr.Slider
    hr_scale: gr.Slider
    hr_resize_x: gr.Slider
    hr_resize_y: gr.Slider


@dataclass
class Refiner:
    accordion: gr.Accordion
    enable_refiner: gr.Checkbox
    refiner_checkpoint: gr.Dropdown
    refiner_switch_at: gr.Slider

    def fields(self) -> dict:
        return {"enable_refiner": self.enable_refiner, "refiner_checkpoint": self.refiner_checkpoint,
                "refiner_switch_at": self.refiner_switch_at}

    def paste_fields(self) -> list:
        return [(self.enable_refiner, lambda d: "Refiner" in d),
                (self.accordion, lambda d: gr.update(open=True) if "Refiner" in d else None),
                (self.refiner_checkpoint, _pasted_refiner),
                (self.refiner_switch_at, "Refiner switch at")]


def _pasted_refiner(params: dict):
    """The title of the checkpoint an infotext's Refiner names (written as its short title), when it is here."""
    if "Refiner" not in params:
        return None
    info = sd_models.get_closet_checkpoint_match(str(params["Refiner"]))
    return gr.update(value=info.title) if info is not None else None


def refiner(tabname: str) -> Refiner:
    """A1111's "Refiner" accordion (its element ids): opening it enables the switch to the refiner checkpoint at the
    given part of the sampling."""
    with gr.Accordion("Refiner", open=False, elem_id=f"script_{tabname}_refiner") as accordion:
        enable = gr.Checkbox(label="Enable", value=False, elem_id=f"script_{tabname}_refiner_enable")
        with FormRow():
            checkpoint = gr.Dropdown(label="Checkpoint", choices=sd_models.checkpoint_tiles(), value=None,
                                     elem_id=f"script_{tabname}_refiner_checkpoint")
            switch_at = gr.Slider(value=0.8, label="Switch at", minimum=0.01, maximum=1.0, step=0.01,
                                  elem_id=f"script_{tabname}_refiner_switch_at")
    accordion.expand(fn=lambda: True, outputs=[enable], show_progress="hidden", api_visibility="private")
    accordion.collapse(fn=lambda: False, outputs=[enable], show_progress="hidden", api_visibility="private")
    return Refiner(accordion, enable, checkpoint, switch_at)


def hires_fix(tabname: str) -> HiresFix:
    """A1111's "Hires. fix" accordion: opening it enables the second pass, as A1111's InputAccordion does."""
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{tabname}_hr") as accordion:
        enable_hr = gr.Checkbox(label="Enable", value=False, elem_id=f"{tabname}_enable_hr")
        with FormRow(elem_id=f"{tabname}_hires_fix_row1"):
            hr_upscaler = gr.Dropdown(label="Upscaler", elem_id=f"{tabname}_hr_upscaler",
                                      choices=hires_upscaler_names(), value=upscaler.latent_upscale_default_mode)
            hr_second_pass_steps = gr.Slider(minimum=0, maximum=150, step=1, label="Hires steps", value=0,
                                             elem_id=f"{tabname}_hires_steps")
            denoising_strength = gr.Slider(minimum=0.0, maximum=1.0, step=0.01, label="Denoising strength",
                                           value=0.7, elem_id=f"{tabname}_denoising_strength")
        with FormRow(elem_id=f"{tabname}_hires_fix_row2"):
            hr_scale = gr.Slider(minimum=1.0, maximum=4.0, step=0.05, label="Upscale by", value=2.0,
                                 elem_id=f"{tabname}_hr_scale")
            hr_resize_x = gr.Slider(minimum=0, maximum=2048, step=8, label="Resize width to", value=0,
                                    elem_id=f"{tabname}_hr_resize_x")
            hr_resize_y = gr.Slider(minimum=0, maximum=2048, step=8, label="Resize height to", value=0,
                                    elem_id=f"{tabname}_hr_resize_y")
    accordion.expand(fn=lambda: True, outputs=[enable_hr], show_progress="hidden", api_visibility="private")
    accordion.collapse(fn=lambda: False, outputs=[enable_hr], show_progress="hidden", api_visibility="private")
    return HiresFix(accordion, enable_hr, hr_upscaler, hr_second_pass_steps, denoising_strength, hr_scale,
                    hr_resize_x, hr_resize_y)
