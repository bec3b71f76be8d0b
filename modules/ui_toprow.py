"""The row at the top of txt2img/img2img: prompts, Generate / Interrupt / Skip, the paste button, styles and their
editor."""

import gradio as gr

from modules import shared, ui_prompt_styles, ui_token_counter
from modules.ui_components import ToolButton, clear_prompt_symbol, paste_symbol

KEYS_HINT = "(Press Ctrl+Enter to generate, Alt+Enter to skip, Esc to interrupt)"
PROMPT_PLACEHOLDER = f"Prompt\n{KEYS_HINT}"
NEGATIVE_PLACEHOLDER = f"Negative prompt\n{KEYS_HINT}"
EMPTY_COUNTER = "<span class='gr-box gr-text-input'>0/75</span>"


def style_names() -> list[str]:
    """The styles of styles.csv as it is now (read again when it was edited)."""
    styles = shared.prompt_styles
    if styles is None:
        return []
    styles.reload_if_changed()
    return list(styles.styles)


class Toprow:
    """A1111's Toprow: the components keep A1111's elem_ids (txt2img_prompt, txt2img_generate, ...)."""

    def __init__(self, id_part: str, prompt_placeholder: str = PROMPT_PLACEHOLDER, prompt_value: str = ""):
        self.id_part = id_part
        with gr.Row(elem_id=f"{id_part}_toprow", elem_classes="toprow"):
            with gr.Column(elem_id=f"{id_part}_prompt_container", elem_classes="prompt-container", scale=6):
                self.prompt = gr.Textbox(value=prompt_value, label="Prompt", elem_id=f"{id_part}_prompt",
                                         show_label=False, lines=3, placeholder=prompt_placeholder,
                                         elem_classes="prompt")
                self.negative_prompt = gr.Textbox(label="Negative prompt", elem_id=f"{id_part}_neg_prompt",
                                                  show_label=False, lines=3, placeholder=NEGATIVE_PLACEHOLDER,
                                                  elem_classes="prompt")
            with gr.Column(elem_id=f"{id_part}_actions_column", elem_classes="actions-column", scale=1,
                           min_width=220):
                with gr.Row(elem_id=f"{id_part}_generate_box", elem_classes="generate-box"):
                    self.interrupt = gr.Button("Interrupt", elem_id=f"{id_part}_interrupt", visible="hidden",
                                               elem_classes="generate-box-interrupt", variant="stop")
                    self.skip = gr.Button("Skip", elem_id=f"{id_part}_skip", visible="hidden",
                                          elem_classes="generate-box-skip")
                    self.submit = gr.Button("Generate", elem_id=f"{id_part}_generate", variant="primary")
                with gr.Row(elem_id=f"{id_part}_tools", elem_classes="tools-row"):
                    self.paste = ToolButton(paste_symbol, elem_id="paste" if id_part == "txt2img"
                                            else f"{id_part}_paste")
                    self.clear_prompt = ToolButton(clear_prompt_symbol, elem_id=f"{id_part}_clear_prompt")
                with gr.Row(elem_id=f"{id_part}_styles_row"):
                    self.styles = gr.Dropdown(label="Styles", elem_id=f"{id_part}_styles", choices=style_names(),
                                              value=[], multiselect=True, show_label=False,
                                              info="Styles", elem_classes="styles-dropdown")
                    self.prompt_styles = ui_prompt_styles.UiPromptStyles(id_part, self.prompt, self.negative_prompt,
                                                                         self.styles, style_names)
                with gr.Row(elem_id=f"{id_part}_counters", elem_classes="token-counters"):
                    self.token_counter = gr.HTML(EMPTY_COUNTER, elem_id=f"{id_part}_token_counter",
                                                 elem_classes="token-counter", padding=False)
                    self.negative_token_counter = gr.HTML(EMPTY_COUNTER, elem_id=f"{id_part}_negative_token_counter",
                                                          elem_classes="token-counter", padding=False)
                    # A1111's scripts click these to recount
                    self.token_button = gr.Button(visible="hidden", elem_id=f"{id_part}_token_button")
                    self.negative_token_button = gr.Button(visible="hidden",
                                                           elem_id=f"{id_part}_negative_token_button")

        # styles.csv edited while the server runs: the choices are read again when the dropdown is opened
        self.styles.focus(fn=lambda: gr.update(choices=style_names()), outputs=[self.styles], queue=False,
                          show_progress="hidden", api_visibility="private")
        self.clear_prompt.click(fn=lambda: ("", ""), outputs=[self.prompt, self.negative_prompt],
                                show_progress="hidden", api_visibility="private")

    def connect_token_counters(self, steps) -> None:
        """Recounts a prompt's tokens when it, the styles or the steps change, or its hidden button is clicked."""
        pairs = ((self.prompt, self.token_counter, self.token_button, True),
                 (self.negative_prompt, self.negative_token_counter, self.negative_token_button, False))
        for prompt, counter, button, is_positive in pairs:
            def count(text, steps_value, styles, is_positive=is_positive):
                return ui_token_counter.update_token_counter(text, steps_value, styles, is_positive=is_positive)

            for event in (prompt.change, self.styles.change, steps.change, button.click):
                event(fn=count, inputs=[prompt, steps, self.styles], outputs=[counter], show_progress="hidden",
                      trigger_mode="always_last", api_visibility="private")
