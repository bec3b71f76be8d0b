"""A1111's style editor (its element ids): a dialog under the Styles dropdown to pick a style, edit its prompt and
negative prompt, save it (a new name makes a new style) or delete it, copy the tab's prompts into it, and apply the
selected styles to the tab's prompts. styles.csv is written before the styles in memory change."""

import gradio as gr

from modules import shared, styles
from modules.ui_components import ToolButton
from modules.ui_progress import error_html

edit_symbol = "\U0001f58c\ufe0f"  # 🖌️
apply_symbol = "\U0001f4cb"  # 📋
copy_symbol = "\U0001f4dd"  # 📝


class StyleEditError(ValueError):
    pass


def _database() -> styles.StyleDatabase:
    if shared.prompt_styles is None:
        raise StyleEditError("no styles file is loaded")
    return shared.prompt_styles


def _writable(database: styles.StyleDatabase) -> styles.StyleDatabase:
    if database.unreadable:
        raise StyleEditError(f"{', '.join(database.unreadable)} could not be read; fix it (see the console) before "
                             f"saving styles, or what it holds would be lost")
    return database


def _saved_with(database: styles.StyleDatabase, change) -> None:
    """change(dict of styles) applied, written, and kept only once written."""
    before = dict(database.styles)
    change(database.styles)
    try:
        database.save_styles()
    except OSError as error:
        database.styles = before
        raise StyleEditError(f"the styles file could not be written: {error}") from error


def save_style(name: str, prompt: str, negative_prompt: str) -> None:
    """The style `name` with these prompts (kept in the file it came from; a new one goes to the first styles file)."""
    name = (name or "").strip()
    if not name or name == "None":
        raise StyleEditError("a style needs a name")
    if name.startswith("#"):
        raise StyleEditError("a style name cannot start with # (styles.csv reads such a row as a comment)")
    database = _writable(_database())
    existing = database.styles.get(name)
    style = styles.PromptStyle(name, prompt or "", negative_prompt or "", existing.path if existing else None)
    _saved_with(database, lambda by_name: by_name.__setitem__(name, style))


def delete_style(name: str) -> None:
    database = _writable(_database())
    if name not in database.styles:
        raise StyleEditError(f"no style named {name!r}")
    _saved_with(database, lambda by_name: by_name.pop(name))


def style_prompts(name: str) -> tuple[str, str] | None:
    """The style's prompt and negative prompt; None for a name no style has (yet)."""
    style = _database().styles.get(name)
    return (style.prompt, style.negative_prompt) if style is not None else None


def _shown_prompts(name: str):
    """A picked style's prompts in the dialog; a new name typed keeps what the dialog holds."""
    found = style_prompts(name)
    return found if found is not None else (gr.update(), gr.update())


def materialize_styles(prompt: str, negative_prompt: str, selected: list[str]) -> tuple[str, str, list]:
    """A1111's "apply styles": the selected styles written into the prompts, and no style selected any more."""
    database = _database()
    return (database.apply_styles_to_prompt(prompt, selected or []),
            database.apply_negative_styles_to_prompt(negative_prompt, selected or []), [])


class UiPromptStyles:
    def __init__(self, tabname: str, main_prompt: gr.Textbox, main_negative_prompt: gr.Textbox,
                 dropdown: gr.Dropdown, names):
        """names(): the style names as they are now."""
        self.tabname, self.dropdown = tabname, dropdown
        self.edit_button = ToolButton(edit_symbol, elem_id=f"{tabname}_styles_edit_button")
        self.apply_button = ToolButton(apply_symbol, elem_id=f"{tabname}_style_apply")
        with gr.Group(elem_id=f"{tabname}_styles_dialog", elem_classes="popup-dialog", visible=False) as self.dialog:
            with gr.Row():
                self.selection = gr.Dropdown(label="Styles", elem_id=f"{tabname}_styles_edit_select", choices=names(),
                                             value=None, allow_custom_value=True,
                                             info="Pick a style to edit it, or type a new name")
                self.copy = ToolButton(copy_symbol, elem_id=f"{tabname}_style_copy")
            self.prompt = gr.Textbox(label="Prompt", elem_id=f"{tabname}_edit_style_prompt", lines=3)
            self.negative_prompt = gr.Textbox(label="Negative prompt", elem_id=f"{tabname}_edit_style_neg_prompt",
                                              lines=3)
            self.log = gr.HTML(elem_id=f"{tabname}_edit_style_log")
            with gr.Row():
                self.save = gr.Button("Save", variant="primary", elem_id=f"{tabname}_edit_style_save")
                self.delete = gr.Button("Delete", elem_id=f"{tabname}_edit_style_delete")
                self.close = gr.Button("Close", elem_id=f"{tabname}_edit_style_close")

        hidden = {"show_progress": "hidden", "api_visibility": "private"}
        self.edit_button.click(fn=lambda: gr.update(visible=True), outputs=[self.dialog], **hidden)
        self.close.click(fn=lambda: gr.update(visible=False), outputs=[self.dialog], **hidden)
        self.selection.change(fn=_shown_prompts, inputs=[self.selection], outputs=[self.prompt, self.negative_prompt],
                              **hidden)
        self.copy.click(fn=lambda prompt, negative: (prompt, negative), inputs=[main_prompt, main_negative_prompt],
                        outputs=[self.prompt, self.negative_prompt], **hidden)
        self.apply_button.click(fn=materialize_styles, inputs=[main_prompt, main_negative_prompt, self.dropdown],
                                outputs=[main_prompt, main_negative_prompt, self.dropdown], **hidden)

        def edited(action, *args):
            try:
                action(*args)
            except StyleEditError as error:
                return gr.update(), gr.update(), error_html(str(error))
            choices = names()
            return gr.update(choices=choices), gr.update(choices=choices), ""

        self.save.click(fn=lambda *args: edited(save_style, *args),
                        inputs=[self.selection, self.prompt, self.negative_prompt],
                        outputs=[self.dropdown, self.selection, self.log], **hidden)
        self.delete.click(fn=lambda name: edited(delete_style, name), inputs=[self.selection],
                          outputs=[self.dropdown, self.selection, self.log], **hidden)
