"""An extension that raises while building its UI tab, in a callback or in a script hook is reported with its name,
shown on the Extensions tab and taken off that hook; the UI is built, other extensions' tabs are built once each,
generations go on. Tabs may use Gradio 3 names (`_js=`, `Component.update`, `.style()`, `gr.Box`)."""

import os
import shutil
import textwrap

import pytest

from modules import extension_errors, extensions, paths_internal, processing, script_callbacks, scripts, shared
from test.api_client import job_service

GOOD_TAB = """
    import gradio as gr
    from modules import script_callbacks

    def build():
        with gr.Blocks(analytics_enabled=False) as tab:
            with gr.Box():
                button = gr.Button("Hide me", elem_id="ext_good_button").style(full_width=True)
                text = gr.Textbox(elem_id="ext_good_text")
            button.click(fn=lambda: gr.Button.update(visible=False), inputs=[], outputs=[button], _js="() => {}")
            text.change(fn=None, _js="(x) => x", inputs=[text], outputs=[text])
        return [(tab, "Good Ext", "good_ext")]

    script_callbacks.on_ui_tabs(build)
"""
BAD_TAB = """
    import gradio as gr
    from modules import script_callbacks

    def build():
        with gr.Blocks(analytics_enabled=False) as tab:
            gr.Button("Half built", elem_id="ext_bad_button")
            raise RuntimeError("this tab cannot be built")
        return [(tab, "Bad Ext", "bad_ext")]

    script_callbacks.on_ui_tabs(build)
"""
FAILING_HOOK = """
    from modules import scripts

    calls = []

    class FailsInProcess(scripts.Script):
        def title(self):
            return "Fails in process"
        def show(self, is_img2img):
            return scripts.AlwaysVisible
        def process(self, p, *args):
            calls.append("process")
            raise ValueError("process is broken")
        def postprocess(self, p, processed, *args):
            calls.append("postprocess")
"""


def install(name: str, script: str) -> str:
    folder = os.path.join(paths_internal.extensions_dir, name)
    os.makedirs(os.path.join(folder, "scripts"))
    with open(os.path.join(folder, "scripts", f"{name.replace('-', '_')}.py"), "w", encoding="utf8") as file:
        file.write(textwrap.dedent(script))
    return folder


@pytest.fixture
def tab_extensions(engine_ready, monkeypatch, clean_callbacks):
    monkeypatch.setattr(shared, "demo", shared.demo)
    monkeypatch.setattr(shared, "tab_names", shared.tab_names)
    folders = [install("good-tab-ext", GOOD_TAB), install("bad-tab-ext", BAD_TAB)]
    extensions.list_extensions()
    scripts.initialize_scripts()
    yield folders
    for folder in folders:
        shutil.rmtree(folder)
    extensions.list_extensions()
    scripts.initialize_scripts()
    extension_errors.clear()


def elem_ids(demo) -> list[str]:
    return [block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)]


def test_a_tab_that_raises_is_left_out_and_the_ui_and_the_other_tabs_are_built_once(tab_extensions, capsys):
    from modules import ui, ui_extensions

    good, bad = tab_extensions
    demo = ui.create_ui(job_service().queue)
    ids = elem_ids(demo)
    assert ids.count("ext_good_button") == 1 and ids.count("ext_good_text") == 1, "built once, in its own tab"
    assert "ext_bad_button" not in ids
    assert "txt2img_prompt" in ids and "tab_settings" in ids, "the UI after the failing tab is built too"
    assert "Good Ext" in shared.tab_names and "Bad Ext" not in shared.tab_names
    assert "(extension bad-tab-ext)" in capsys.readouterr().out
    problems = extension_errors.recorded(bad)
    assert len(problems) == 1 and "callbacks_ui_tabs" in problems[0] and "this tab cannot be built" in problems[0]
    assert extension_errors.recorded(good) == []
    assert "this tab cannot be built" in ui_extensions.extensions_table()
    assert not any(c.script.startswith(bad) for c in script_callbacks.callback_map["callbacks_ui_tabs"])
    listeners = [fn.js for fn in demo.fns.values() if fn.js in ("() => {}", "(x) => x")]
    assert len(listeners) == 2, "the Gradio 3 `_js=` listeners are registered with their JavaScript"


def test_a_script_hook_that_raises_is_reported_and_not_run_again(sd_model, monkeypatch):
    folder = install("hook-ext", FAILING_HOOK)
    try:
        extensions.list_extensions()
        scripts.initialize_scripts()
        runner = scripts.scripts_txt2img
        runner.ensure_args_layout()
        script = next(s for s in runner.alwayson_scripts if s.title() == "Fails in process")
        module = __import__("sys").modules["hook_ext.py"]
        for _ in range(2):
            p = processing.StableDiffusionProcessingTxt2Img(prompt="a red circle", steps=1, width=64, height=64,
                                                           do_not_save_samples=True, do_not_save_grid=True)
            p.scripts, p.script_args = runner, list(runner.default_args)
            assert len(processing.process_images(p).images) == 1
        assert module.calls == ["process", "postprocess", "postprocess"]
        assert script.failed_hooks == {"process"}
        assert "Error running process" in extension_errors.recorded(folder)[0]
    finally:
        shutil.rmtree(folder)
        extensions.list_extensions()
        scripts.initialize_scripts()
        extension_errors.clear()


SEND_TAB = """
    import gradio as gr
    from modules import generation_parameters_copypaste as parameters_copypaste, script_callbacks

    def build():
        with gr.Blocks(analytics_enabled=False) as tab:
            text = gr.Textbox(elem_id="ext_send_text")
            send = gr.Button("Send to txt2img", elem_id="ext_send_button")
            nowhere = gr.Button("Send to extras", elem_id="ext_send_nowhere")
        parameters_copypaste.register_paste_params_button(parameters_copypaste.ParamBinding(
            paste_button=send, tabname="txt2img", source_text_component=text))
        parameters_copypaste.register_paste_params_button(parameters_copypaste.ParamBinding(
            paste_button=nowhere, tabname="extras", source_text_component=text))
        return [(tab, "Send Ext", "send_ext")]

    script_callbacks.on_ui_tabs(build)
"""


def test_an_extensions_paste_params_button_sends_infotext_to_txt2img(engine_ready, monkeypatch, capsys,
                                                                   clean_callbacks):
    from modules import ui

    monkeypatch.setattr(shared, "demo", shared.demo)
    monkeypatch.setattr(shared, "tab_names", shared.tab_names)
    folder = install("send-ext", SEND_TAB)
    try:
        extensions.list_extensions()
        scripts.initialize_scripts()
        demo = ui.create_ui(job_service().queue)
        blocks = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
        send = blocks["ext_send_button"]
        dependency = next(d for d in demo.fns.values() if any(t[0] == send._id for t in d.targets))
        outputs = [demo.blocks[i] if isinstance(i, int) else i for i in dependency.outputs]
        values = dict(zip([getattr(o, "elem_id", None) for o in outputs],
                          dependency.fn("a cat\nNegative prompt: dog\nSteps: 7, Seed: 42, Size: 64x96")))
        assert values["txt2img_prompt"] == "a cat" and values["txt2img_neg_prompt"] == "dog"
        assert values["txt2img_steps"] == 7 and values["txt2img_width"] == 64 and values["txt2img_height"] == 96
        assert values["tabs"]["selected"] == "txt2img"
        assert "Cannot send to the 'extras' tab" in capsys.readouterr().out
    finally:
        shutil.rmtree(folder)
        extensions.list_extensions()
        scripts.initialize_scripts()
