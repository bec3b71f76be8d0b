"""The extra networks cards: the Lora page's items, what a card click does to the prompt, and the page's tab."""

import os

import gradio as gr
import pytest
from PIL import Image

from modules import script_callbacks, shared, ui_extra_networks, ui_extra_networks_thumbs
from modules.ui_extra_networks_prompt import multiplier_text, update_prompt
from test.extension_fixtures import LORA_SCRIPT, load_builtin_lora, unload_builtin_lora_modules


@pytest.fixture(scope="module")
def lora_files(data_dir) -> dict[str, str]:
    """`tiny` with a tiny.png preview beside it and `plain` without one, in the default --lora-dir; removed after."""
    from tools.make_tiny_lora import make_tiny_lora

    folder = shared.cmd_opts.lora_dir
    os.makedirs(os.path.join(folder, "styles"), exist_ok=True)
    tiny = make_tiny_lora("sd15", os.path.join(folder, "tiny-card.safetensors"), seed=0)
    preview = os.path.join(folder, "tiny-card.png")
    Image.new("RGB", (640, 320), (200, 30, 30)).save(preview)
    plain = make_tiny_lora("sd15", os.path.join(folder, "styles", "plain.safetensors"), seed=1)
    yield {"tiny-card": tiny, "plain": plain}
    for path in (tiny, preview, plain):
        os.remove(path)


@pytest.fixture(scope="module")
def lora_page(lora_files):
    """lora_script.py loaded as the script loader does, then the on_before_ui callbacks run as the UI runs them."""
    from modules.extra_networks import unregister_extra_network

    load_builtin_lora()
    ui_extra_networks.initialize()
    script_callbacks.before_ui_callback()
    yield next(page for page in ui_extra_networks.extra_pages if page.title == "Lora")
    ui_extra_networks.initialize()
    script_callbacks.remove_callbacks_for_script(LORA_SCRIPT)
    unregister_extra_network("lora")
    unload_builtin_lora_modules()


def items_by_name(page) -> dict[str, dict]:
    return {item["name"]: item for item in page.list_items()}


def select_event(name: str, index: int = 0) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": {"image": None, "caption": name}, "selected": True})


@pytest.mark.parametrize(("prompt", "expected"), [
    ("", "<lora:tiny:1>"),
    ("a cat", "a cat <lora:tiny:1>"),
    ("a cat <lora:tiny:0.4>", "a cat"),
    ("<lora:tiny:1> a cat", " a cat"),
    ("a cat <lora:other:1> <lora:tiny:1> sitting", "a cat <lora:other:1> sitting"),
    ("a cat <lora:tinyer:1>", "a cat <lora:tinyer:1> <lora:tiny:1>"),
])
def test_click_adds_the_tag_or_removes_it_whatever_its_multiplier(prompt, expected):
    assert update_prompt(prompt, "<lora:tiny:1>", " ") == expected


def test_click_removes_the_activation_text_and_the_separator_it_added():
    added = update_prompt("a cat", "<lora:tiny:1>, red style", ", ")
    assert added == "a cat, <lora:tiny:1>, red style"
    assert update_prompt(added, "<lora:tiny:1>, red style", ", ") == "a cat"


def test_card_text_that_is_no_tag_toggles_as_plain_text():
    added = update_prompt("a cat", "(style:1.2)", " ")
    assert added == "a cat (style:1.2)"
    assert update_prompt(added, "(style:1.2)", " ") == "a cat"


def test_separator_comes_from_the_option(monkeypatch):
    monkeypatch.setitem(shared.opts.data, "extra_networks_add_text_separator", ", ")
    assert update_prompt("a cat", "<lora:tiny:1>") == "a cat, <lora:tiny:1>"


@pytest.mark.parametrize(("value", "text"), [(1.0, "1"), (0.75, "0.75"), (2, "2"), (1.5, "1.5")])
def test_multiplier_is_written_as_a1111_cards_write_it(value, text):
    assert multiplier_text(value) == text


def test_lora_page_lists_each_file_with_its_tag_preview_and_search_terms(lora_page, lora_files):
    items = items_by_name(lora_page)
    assert {"tiny-card", "plain"} <= set(items)
    tiny, plain = items["tiny-card"], items["plain"]
    assert tiny["prompt"] == "<lora:tiny-card:1>" and tiny["filename"] == lora_files["tiny-card"]
    assert tiny["preview"] == os.path.splitext(lora_files["tiny-card"])[0] + ".png"
    assert plain["preview"] is None
    assert os.path.join("Lora", "styles", "plain.safetensors") in plain["search_terms"]


def test_lora_tag_uses_the_default_multiplier_option(lora_page, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "extra_networks_default_multiplier", 0.6)
    assert items_by_name(lora_page)["tiny-card"]["prompt"] == "<lora:tiny-card:0.6>"


def test_cards_show_a_small_preview_or_the_placeholder_and_follow_the_search(lora_page):
    shown = dict((name, picture) for picture, name in ui_extra_networks.cards(lora_page))
    assert {"tiny-card", "plain"} <= set(shown)
    with Image.open(shown["tiny-card"]) as thumb:
        assert thumb.size == (256, 128) and thumb.getpixel((10, 10)) == (200, 30, 30)
    assert shown["plain"] == ui_extra_networks_thumbs.placeholder()
    assert [name for _, name in ui_extra_networks.cards(lora_page, "STYLES")] == ["plain"]
    assert ui_extra_networks.cards(lora_page, "no such network") == []


def test_refresh_finds_a_new_file(lora_page, lora_files):
    from tools.make_tiny_lora import make_tiny_lora

    path = make_tiny_lora("sd15", os.path.join(shared.cmd_opts.lora_dir, "late.safetensors"), seed=2)
    try:
        assert "late" not in items_by_name(lora_page)
        shown, note = ui_extra_networks.refreshed_cards(lora_page, "")
        assert "late" in [name for _, name in shown] and note == ""
    finally:
        os.remove(path)
        lora_page.refresh()


def test_an_empty_page_says_where_to_put_files(lora_page, monkeypatch):
    assert ui_extra_networks.empty_note(lora_page) == ""
    monkeypatch.setattr(lora_page, "list_items", lambda: iter(()))
    note = ui_extra_networks.empty_note(lora_page)
    assert note.startswith("Nothing here. Add some content to the following directories:")
    assert f"`{shared.cmd_opts.lora_dir}`" in note


def test_card_click_toggles_the_tag_in_the_prompt(lora_page):
    prompt, gallery = ui_extra_networks.card_clicked(lora_page, "a cat", select_event("tiny-card"))
    assert prompt == "a cat <lora:tiny-card:1>"
    assert gallery.selected_index is None
    prompt, _ = ui_extra_networks.card_clicked(lora_page, prompt, select_event("tiny-card"))
    assert prompt == "a cat"


def test_click_on_a_card_whose_file_is_gone_keeps_the_prompt(lora_page):
    with pytest.warns(UserWarning):
        prompt, _ = ui_extra_networks.card_clicked(lora_page, "a cat", select_event("deleted"))
    assert prompt == "a cat"


def test_pages_follow_the_tab_order_option(monkeypatch):
    pages = [ui_extra_networks.ExtraNetworksPage(title) for title in ("Textual Inversion", "Hypernetworks", "Lora")]
    monkeypatch.setitem(shared.opts.data, "ui_extra_networks_tab_reorder", "lora, hypernetworks")
    assert [page.title for page in ui_extra_networks.pages_in_preferred_order(pages)] == [
        "Lora", "Hypernetworks", "Textual Inversion"]


def test_create_ui_adds_a_tab_with_search_refresh_and_cards_per_page(lora_page):
    with gr.Blocks() as demo:
        prompt = gr.Textbox()
        with gr.Tabs():
            ui_extra_networks.create_ui("txt2img", prompt)
    elem_ids = {block.elem_id for block in demo.blocks.values()}
    assert {"txt2img_lora", "txt2img_lora_extra_search", "txt2img_lora_extra_refresh",
            "txt2img_lora_cards"} <= elem_ids
