"""The row at the top of txt2img/img2img: prompts, Generate / Interrupt / Skip, the paste button and styles."""

import gradio as gr

from modules import shared
from modules.ui_components import ToolButton, clear_prompt_symbol, paste_symbol

KEYS_HINT = "(Press Ctrl+Enter to generate, Alt+Enter to skip, Esc to interrupt)"
PROMPT_PLACEHOLDER = f"Prompt\n{KEYS_HINT}"
NEGATIVE_PLACEHOLDER = f"Negative prompt\n{KEYS_HINT}"


def style_names() -> list[str]:
    styles = shared.prompt_styles
    return list(styles.styles) if styles is not None else []


class Toprow:
    """A1111's Toprow: the components keep A1111's elem_ids (txt2img_prompt, txt2img_generate, ...)."""

    def __init__(self, id_part: str, prompt_placeholder: str = PROMPT_PLACEHOLDER):
        self.id_part = id_part
        with gr.Row(elem_id=f"{id_part}_toprow", elem_classes="toprow"):
            with gr.Column(elem_id=f"{id_part}_prompt_container", elem_classes="prompt-container", scale=6):
                self.prompt = gr.Textbox(label="Prompt", elem_id=f"{id_part}_prompt", show_label=False, lines=3,
                                         placeholder=prompt_placeholder, elem_classes="prompt")
                self.negative_prompt = gr.Textbox(label="Negative prompt", elem_id=f"{id_part}_neg_prompt",
                                                  show_label=False, lines=3, placeholder=NEGATIVE_PLACEHOLDER,
                                                  elem_classes="prompt")
            with gr.Column(elem_id=f"{id_part}_actions_column", elem_classes="actions-column", scale=1,
                           min_width=220):
                with gr.Row(elem_id=f"{id_part}_generate_box", elem_classes="generate-box"):
                    self.interrupt = gr.Button("Interrupt", elem_id=f"{id_part}_interrupt", visible=False,
                                               elem_classes="generate-box-interrupt", variant="stop")
                    self.skip = gr.Button("Skip", elem_id=f"{id_part}_skip", visible=False,
                                          elem_classes="generate-box-skip")
                    self.submit = gr.Button("Generate", elem_id=f"{id_part}_generate", variant="primary")
                with gr.Row(elem_id=f"{id_part}_tools", elem_classes="tools-row"):
                    self.paste = ToolButton(paste_symbol, elem_id="paste" if id_part == "txt2img"
                                            else f"{id_part}_paste")
                    self.clear_prompt = ToolButton(clear_prompt_symbol, elem_id=f"{id_part}_clear_prompt")
                self.styles = gr.Dropdown(label="Styles", elem_id=f"{id_part}_styles", choices=style_names(),
                                          value=[], multiselect=True, show_label=False,
                                          info="Styles", elem_classes="styles-dropdown")

        self.interrupt.click(fn=shared.state.interrupt, queue=False, api_visibility="private")
        self.skip.click(fn=shared.state.skip, queue=False, api_visibility="private")
        self.clear_prompt.click(fn=lambda: ("", ""), outputs=[self.prompt, self.negative_prompt],
                                show_progress="hidden", api_visibility="private")
