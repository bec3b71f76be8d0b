"""A1111's extra networks pages: each registered page (the Lora extension's, ...) is a tab of cards next to
"Generation" under the txt2img/img2img prompt; a click on a card adds its text to the prompt, or takes it out."""

import os

import gradio as gr

from modules import shared, ui_extra_networks_thumbs
from modules.call_queue import queue_lock
from modules.ui_components import ToolButton, refresh_symbol
from modules.ui_extra_networks_prompt import update_prompt

extra_pages: list["ExtraNetworksPage"] = []
default_allowed_preview_extensions = ["png", "jpg", "jpeg", "webp", "gif"]
CARD_COLUMNS = 6


def register_page(page: "ExtraNetworksPage") -> None:
    """Adds a page to the extra networks tabs; call from a script_callbacks.on_before_ui callback."""
    extra_pages.append(page)


def initialize() -> None:
    """The built-in pages (Textual Inversion); the extensions' come from the on_before_ui callbacks, after this."""
    from modules.ui_extra_networks_textual_inversion import ExtraNetworksPageTextualInversion

    extra_pages.clear()
    register_page(ExtraNetworksPageTextualInversion())


def allowed_preview_extensions_with_extra(extra_extensions=None) -> list[str]:
    extensions = list(default_allowed_preview_extensions)
    extensions += [ext for ext in (extra_extensions or []) if ext and ext not in extensions]
    return extensions


def allowed_preview_extensions() -> list[str]:
    return allowed_preview_extensions_with_extra((shared.opts.samples_format,))


class ExtraNetworksPage:
    """One kind of extra network. Subclasses define list_items() and create_item(name); each item is a dict with at
    least name, filename, preview (a picture's path, or None), search_terms and prompt (the text a click adds)."""

    def __init__(self, title: str):
        self.title = title
        self.name = title.lower()
        self.id_page = self.name.replace(" ", "_")
        self.extra_networks_tabname = self.id_page

    def refresh(self) -> None:
        pass

    def list_items(self):
        raise NotImplementedError

    def create_item(self, name: str, index=None) -> dict | None:
        raise NotImplementedError

    def allowed_directories_for_previews(self) -> list[str]:
        return []

    def find_preview(self, path: str) -> str | None:
        """The picture beside a network, `path` being its filename without the extension: path.png,
        path.preview.png, ... (A1111's returns a URL to it; this one the file's path)."""
        for ext in allowed_preview_extensions():
            for candidate in (f"{path}.{ext}", f"{path}.preview.{ext}"):
                if os.path.isfile(candidate):
                    return candidate
        return None

    def search_terms_from_path(self, filename: str, possible_directories=None) -> str:
        """The filename relative to the parent of the allowed directory holding it ("Lora/style/x.safetensors")."""
        abspath = os.path.abspath(filename)
        directories = self.allowed_directories_for_previews() if possible_directories is None else possible_directories
        for directory in directories:
            parent = os.path.dirname(os.path.abspath(directory))
            if abspath.startswith(parent):
                return os.path.relpath(abspath, parent)
        return ""


def pages_in_preferred_order(pages: list[ExtraNetworksPage]) -> list[ExtraNetworksPage]:
    """The pages sorted by opts.ui_extra_networks_tab_reorder ("lora, hypernetworks"), the rest after them."""
    tab_order = [name.lower().strip() for name in shared.opts.ui_extra_networks_tab_reorder.split(",")]

    def tab_name_score(name: str) -> int:
        for index, possible_match in enumerate(tab_order):
            if possible_match in name.lower():
                return index
        return len(pages)

    scores = {page.name: (tab_name_score(page.name), index) for index, page in enumerate(pages)}
    return sorted(pages, key=lambda page: scores[page.name])


def matches_search(item: dict, search: str) -> bool:
    search = (search or "").strip().lower()
    texts = [item["name"], *item.get("search_terms", [])]
    return not search or any(search in str(text).lower() for text in texts)


def cards(page: ExtraNetworksPage, search: str = "") -> list[tuple[str, str]]:
    """The page's cards that match `search`, as gallery items: (picture path, network name)."""
    return [(ui_extra_networks_thumbs.thumbnail(item["preview"]), item["name"])
            for item in page.list_items() if matches_search(item, search)]


def empty_note(page: ExtraNetworksPage) -> str:
    """A1111's note for a page with nothing in it: where to put files; empty when the page has items."""
    if any(True for _ in page.list_items()):
        return ""
    folders = "".join(f"\n- `{folder}`" for folder in page.allowed_directories_for_previews())
    return f"Nothing here. Add some content to the following directories:{folders}"


def refreshed_cards(page: ExtraNetworksPage, search: str) -> tuple[list[tuple[str, str]], str]:
    with queue_lock:
        page.refresh()
    return cards(page, search), empty_note(page)


def card_clicked(page: ExtraNetworksPage, prompt: str, evt: gr.SelectData) -> tuple[str, gr.Gallery]:
    """The prompt after a click on a card; the card is unselected again so that a second click on it counts."""
    name = (evt.value or {}).get("caption")
    item = page.create_item(name) if name else None
    if item is None:
        gr.Warning(f"{page.title}: {name} is gone; press refresh")
        return prompt, gr.Gallery(selected_index=None)
    return update_prompt(prompt, item["prompt"]), gr.Gallery(selected_index=None)


def create_page_tab(page: ExtraNetworksPage, tabname: str, prompt: gr.Textbox) -> None:
    elem_id = f"{tabname}_{page.extra_networks_tabname}"
    with gr.Tab(page.title, id=elem_id, elem_id=elem_id, elem_classes="extra-page"):
        with gr.Row(elem_id=f"{elem_id}_controls", elem_classes="extra-network-control"):
            search = gr.Textbox(label="Search", show_label=False, placeholder="Search...", scale=6,
                                elem_id=f"{elem_id}_extra_search", elem_classes="search")
            refresh = ToolButton(refresh_symbol, elem_id=f"{elem_id}_extra_refresh")
        gallery = gr.Gallery(value=lambda: cards(page), show_label=False, columns=CARD_COLUMNS, allow_preview=False,
                             buttons=[], object_fit="cover", fit_columns=False, elem_id=f"{elem_id}_cards",
                             elem_classes="extra-network-cards")
        note = gr.Markdown(value=lambda: empty_note(page), elem_id=f"{elem_id}_empty",
                           elem_classes="extra-network-empty")

    search.change(fn=lambda text: cards(page, text), inputs=[search], outputs=[gallery], show_progress="hidden",
                  api_visibility="private")
    refresh.click(fn=lambda text: refreshed_cards(page, text), inputs=[search], outputs=[gallery, note],
                  api_visibility="private")

    def select_card(text: str, evt: gr.SelectData) -> tuple[str, gr.Gallery]:
        return card_clicked(page, text, evt)

    gallery.select(fn=select_card, inputs=[prompt], outputs=[prompt, gallery], show_progress="hidden",
                   api_visibility="private")


def create_ui(tabname: str, prompt: gr.Textbox) -> None:
    """A tab for each registered page, for the txt2img or img2img tab `tabname` whose prompt is `prompt`; call it
    inside the gr.Tabs that holds that tab's "Generation" tab."""
    for page in pages_in_preferred_order(extra_pages):
        create_page_tab(page, tabname, prompt)
