"""txt2img/img2img defaults that follow the checkpoint: the size sliders start at its native resolution and the prompt
holds its example prompt (also shown as the placeholder); a checkpoint that states neither keeps A1111's 512x512, an
empty prompt and A1111's placeholder."""

from dataclasses import dataclass

import gradio as gr

from modules import image_size, sd_models
from modules.ui_toprow import KEYS_HINT, PROMPT_PLACEHOLDER, Toprow

A1111_SIZE = 512


@dataclass(frozen=True)
class ModelUiDefaults:
    width: int = A1111_SIZE
    height: int = A1111_SIZE
    prompt_placeholder: str = PROMPT_PLACEHOLDER
    example_prompt: str = ""
    """what the prompt box starts with: Generate right away draws what the checkpoint was made for"""


def ui_defaults(info: sd_models.CheckpointInfo | None) -> ModelUiDefaults:
    """A native resolution the sliders cannot hold (too small, too large, not a multiple of 8) is not used."""
    if info is None:
        return ModelUiDefaults()
    width, height = info.native_resolution or (A1111_SIZE, A1111_SIZE)
    if not image_size.fits_sliders(width, height):
        width, height = A1111_SIZE, A1111_SIZE
    example = info.example_prompt
    return ModelUiDefaults(width, height, f"{example}\n{KEYS_HINT}" if example else PROMPT_PLACEHOLDER, example or "")


def selected_checkpoint_defaults() -> ModelUiDefaults:
    return ui_defaults(sd_models.select_checkpoint())


def follow_checkpoint(title: str, shown: ModelUiDefaults, sizes: list[float]) -> tuple[ModelUiDefaults, list]:
    """The new checkpoint's defaults and the updates of the size sliders (width, height, width, height, ...): a
    slider still at the previous checkpoint's default moves to the new one; a size the user chose stays."""
    new = ui_defaults(sd_models.get_closet_checkpoint_match(title))
    updates = []
    for index, value in enumerate(sizes):
        old_default, new_default = (shown.width, new.width) if index % 2 == 0 else (shown.height, new.height)
        updates.append(new_default if value == old_default else gr.skip())
    return new, updates


def prompt_update(prompt: str, shown: ModelUiDefaults, new: ModelUiDefaults):
    """The new placeholder; the new example prompt too when the box is empty or still holds the previous one."""
    if prompt in ("", shown.example_prompt):
        return gr.update(placeholder=new.prompt_placeholder, value=new.example_prompt)
    return gr.update(placeholder=new.prompt_placeholder)


def connect_checkpoint_dropdown(dropdown, shown: ModelUiDefaults, tabs: list[tuple[Toprow, gr.Slider, gr.Slider]]):
    """Switching the checkpoint in `dropdown` updates each tab's (toprow, width, height)."""
    state = gr.State(shown)
    sliders = [slider for _, width, height in tabs for slider in (width, height)]
    prompts = [toprow.prompt for toprow, _, _ in tabs]

    def on_change(title, current, *values):
        sizes, prompt_values = values[:len(sliders)], values[len(sliders):]
        new, size_updates = follow_checkpoint(title, current, list(sizes))
        return [new, *size_updates, *(prompt_update(prompt, current, new) for prompt in prompt_values)]

    dropdown.change(fn=on_change, inputs=[dropdown, state, *sliders, *prompts], outputs=[state, *sliders, *prompts],
                    show_progress="hidden", queue=False, api_visibility="private")
