"""A1111's component classes extensions import from modules.ui_components, and infotext_utils.PasteField."""

import gradio as gr
import pytest

from modules import generation_parameters_copypaste, ui_components, ui_paste
from modules.infotext_utils import PasteField
from modules.ui_components import (
    DropdownEditable,
    DropdownMulti,
    FormColumn,
    FormComponent,
    FormGroup,
    FormHTML,
    FormRow,
    InputAccordion,
    ResizeHandleRow,
    ToolButton,
)


def component_config(demo: gr.Blocks, block) -> dict:
    return next(c for c in demo.get_config_file()["components"] if c["id"] == block._id)


def listeners(demo: gr.Blocks, block, event: str) -> list:
    return [f for f in demo.fns.values() if (block._id, event) in f.targets]


def test_form_classes_render_as_the_gradio_blocks_they_extend():
    with gr.Blocks() as demo:
        with FormRow(elem_classes="mine") as row, FormColumn() as column, FormGroup() as group:
            html = FormHTML("<b>hi</b>", elem_id="form_html")
            multi = DropdownMulti(label="Pick", choices=["a", "b"], value=["b"])
            editable = DropdownEditable(label="Edit", choices=["a"], value="z")
            button = ToolButton("R", elem_id="tool")
        with ResizeHandleRow() as resize_row:
            pass
    expected = {row: "row", column: "column", group: "group", html: "html", multi: "dropdown", editable: "dropdown",
                button: "button", resize_row: "row"}
    for block, name in expected.items():
        config = component_config(demo, block)
        assert (config["type"], config["props"]["name"]) == (name, name)
        assert isinstance(block, FormComponent) == (block is not resize_row)
    assert component_config(demo, row)["props"]["elem_classes"] == ["form-row", "mine"]
    assert component_config(demo, resize_row)["props"]["elem_classes"] == ["resize-handle-row"]
    assert component_config(demo, html)["props"]["value"] == "<b>hi</b>"
    assert component_config(demo, multi)["props"]["multiselect"] is True
    assert component_config(demo, multi)["props"]["value"] == ["b"]
    assert component_config(demo, editable)["props"]["allow_custom_value"] is True
    assert component_config(demo, button)["props"]["elem_classes"] == ["tool"]
    assert component_config(demo, button)["props"]["elem_id"] == "tool"


def test_form_controls_are_grouped_into_a_form_and_tool_buttons_stay_bare():
    with gr.Blocks():
        with gr.Row() as row:
            html = FormHTML("x")
            button = ToolButton("R")
    assert isinstance(html.parent, gr.layouts.Form)
    assert button.parent is row


def test_input_accordion_is_a_checkbox_whose_accordion_follows_it():
    with gr.Blocks() as demo:
        with InputAccordion(False, label="ADetailer", elem_id="ad") as enabled:
            with enabled.extra():
                extra_button = ToolButton("x")
            inner = gr.Slider(label="Strength")
        output = gr.Textbox()
        gr.Button().click(lambda on: f"on={on}", inputs=[enabled], outputs=[output])
    assert isinstance(enabled, gr.Checkbox) and enabled.value is False
    assert isinstance(enabled.accordion, gr.Accordion) and enabled.accordion.open is False
    assert component_config(demo, enabled)["props"]["label"] == "ADetailer"
    assert component_config(demo, enabled)["props"]["elem_id"] == "ad-checkbox"
    assert component_config(demo, enabled.accordion)["props"]["elem_id"] == "ad"
    assert enabled.parent.parent is enabled.accordion  # the checkbox's form sits in the accordion
    assert extra_button.parent.elem_id == "ad-extra"
    assert inner.parent.parent is enabled.accordion
    assert enabled.preprocess(True) is True

    [follow] = listeners(demo, enabled, "change")
    assert follow.outputs == [enabled.accordion]
    assert follow.fn(True)["open"] is True and follow.fn(False)["open"] is False
    [expand] = listeners(demo, enabled.accordion, "expand")
    [collapse] = listeners(demo, enabled.accordion, "collapse")
    assert (expand.outputs, expand.fn()) == ([enabled], True)
    assert (collapse.outputs, collapse.fn()) == ([enabled], False)


def test_input_accordion_without_elem_id_gets_its_own_and_opens_when_on():
    with gr.Blocks():
        first = InputAccordion(True, label="One")
        second = InputAccordion(False)
    assert first.accordion.open is True and first.value is True
    assert first.accordion_id != second.accordion_id
    assert first.accordion_id.startswith("input-accordion-")
    assert second.accordion.label == "Accordion"


def test_tool_button_keeps_its_positional_value_and_extra_arguments():
    with gr.Blocks():
        button = ToolButton(ui_components.refresh_symbol, elem_id="refresh", visible=False, interactive=False)
    assert (button.value, button.elem_id, button.visible, button.interactive) == (ui_components.refresh_symbol,
                                                                                  "refresh", False, False)


def test_paste_field_is_a_component_target_pair_with_api_name():
    field = PasteField("component", "Steps", api="steps")
    component, target = field
    assert (component, target) == ("component", "Steps")
    assert field == ("component", "Steps") and len(field) == 2
    assert (field.api, field.component, field.label, field.function) == ("steps", "component", "Steps", None)

    function = PasteField("component", len)
    assert (function.api, function.label, function.function) == (None, None, len)
    with pytest.raises(TypeError):
        PasteField("component", "Steps", "steps")
    assert generation_parameters_copypaste.PasteField is PasteField


def test_paste_fields_fill_the_tab_like_plain_pairs(monkeypatch):
    with gr.Blocks():
        steps = gr.Slider(label="Steps", minimum=1, maximum=150, step=1)
        prompt = gr.Textbox()
    monkeypatch.setattr(ui_paste, "paste_fields", {})
    ui_paste.add_paste_fields("txt2img", [PasteField(steps, "Steps", api="steps"),
                                          PasteField(prompt, lambda params: params["Prompt"])])
    assert ui_paste.field_updates("txt2img", {"Steps": "12", "Prompt": "a cat"}) == [12, "a cat"]


def test_a_refreshed_dropdown_keeps_a_checkpoint_whose_hash_came_or_changed():
    choices = ["a.safetensors [0123456789]", "big.safetensors [abcdef0123]"]
    assert ui_components._still_listed("big.safetensors", choices) == "big.safetensors [abcdef0123]"
    assert ui_components._still_listed("a.safetensors [0123456789]", choices) == "a.safetensors [0123456789]"
    assert ui_components._still_listed("big.safetensors [0000000000]", choices) == "big.safetensors [abcdef0123]", \
        "a file replaced on disk: its new hash"
    assert ui_components._still_listed("a", ["b [2]", "a.safetensors [1]"]) == "b [2]", "the whole name, not a part"
    assert ui_components._still_listed("gone.safetensors", choices) == choices[0], "a choice gone: the first"
    assert ui_components._still_listed("gone.safetensors", []) is None
