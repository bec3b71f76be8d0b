"""The browser UI end to end: a real server with tiny checkpoints, driven through headless Chromium by Playwright."""

import io
import json
import os
import re
import tempfile
import time

import numpy as np
import pytest
import requests
from PIL import Image

from test.conftest import REPO_ROOT
from test.extension_fixtures import TEST_EXTENSION, extension_files

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = os.path.join(REPO_ROOT, "test", ".artifacts")
GENERATION_TIMEOUT_MS = 120_000
CHECKPOINT_B, CHECKPOINT_C = "tiny-ui-b", "tiny-ui-c"
DEMO_CHECKPOINT, DEMO_EXAMPLE_PROMPT = "serena-demo-shapes", "a red circle on a black background"
SEED_RE = re.compile(r"Seed: (\d+)")
SUBPATH, USER, PASSWORD = "webui", "tester", "secret-pass"
LORA_NAME = "tiny-ui-lora"


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory) -> str:
    """A --ckpt-dir with a second checkpoint to switch to (the server's own is the session's tiny-sd15)."""
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    folder = str(tmp_path_factory.mktemp("ui-checkpoints"))
    make_tiny_checkpoint("sd15", os.path.join(folder, f"{CHECKPOINT_B}.safetensors"), seed=1)
    return folder


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory) -> str:
    """A --lora-dir with one tiny LoRA for the tiny SD1 checkpoint."""
    from tools.make_tiny_lora import make_tiny_lora

    folder = str(tmp_path_factory.mktemp("ui-loras"))
    make_tiny_lora("sd15", os.path.join(folder, f"{LORA_NAME}.safetensors"), seed=0)
    return folder


@pytest.fixture(scope="module")
def ui_server(server_factory, checkpoint_dir, lora_dir):
    """webui.py with the UI (the smoke conftest's server, nowebui=False) and the API (--api) behind --gradio-auth, under
    --subpath, with the test extension installed and a tiny LoRA, in the dark theme (--theme)."""
    server = server_factory(["--ckpt-dir", checkpoint_dir, "--lora-dir", lora_dir, "--api",
                             "--gradio-auth", f"{USER}:{PASSWORD},other:pw", "--subpath", SUBPATH, "--theme", "dark"],
                            nowebui=False, files=extension_files())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser_context():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the "
                    "browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def ui_url(browser_context, ui_server) -> str:
    """The UI's address, after logging in once through gradio's login page (the context keeps the cookie)."""
    url = f"{ui_server.url}/{SUBPATH}/"
    page = browser_context.new_page()
    try:
        page.goto(url)
        page.get_by_label("username").fill(USER)
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect Credentials").wait_for(timeout=30_000)
        page.get_by_label("username").fill(USER)  # the login page empties the form after a failure
        page.get_by_label("password").fill(PASSWORD)
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#txt2img_prompt textarea", timeout=60_000)
    finally:
        page.close()
    return url


@pytest.fixture
def page(browser_context, ui_url):
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(ui_url)
    page.wait_for_selector("#txt2img_prompt textarea", timeout=60_000)
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> None:
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=True)


def set_number(page, elem_id: str, value) -> None:
    """Types into the number box of a slider (or a plain number field) and commits it."""
    field = page.locator(f"#{elem_id} input[type=number]")
    field.fill(str(value))
    field.press("Enter")


def number_value(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input[type=number]").input_value()


RESULT_SCRIPT = """([tab, oldSource, oldError]) => {
    const image = document.querySelector(`#${tab}_gallery img`);
    const error = document.querySelector(`#html_log_${tab} .error`);
    return (image && image.src !== oldSource) || (error && error.innerText !== oldError);
}"""


def run_generation(page, tabname: str) -> bytes:
    """Clicks Generate and returns the first gallery image of the new result (a picture or error still shown from
    an earlier run does not count); fails with the UI's error message when the generation fails."""
    image = page.locator(f"#{tabname}_gallery img")
    error = page.locator(f"#html_log_{tabname} .error")
    old_source = image.first.get_attribute("src") if image.count() else None
    old_error = error.first.inner_text() if error.count() else None
    page.click(f"#{tabname}_generate")
    page.wait_for_function(RESULT_SCRIPT, arg=[tabname, old_source, old_error], timeout=GENERATION_TIMEOUT_MS)
    if error.count():
        pytest.fail(f"the generation failed: {page.inner_text(f'#html_log_{tabname}')}")
    return shown_png(page, tabname)


def shown_png(page, tabname: str) -> bytes:
    """The file behind the first image of the tab's gallery, as the browser fetches it."""
    source = page.locator(f"#{tabname}_gallery img").first.get_attribute("src")
    response = page.request.get(source)
    assert response.ok, source
    return response.body()


def generate_txt2img(page, prompt="a red apple", steps=3, seed=-1, batch_count=1) -> bytes:
    page.fill("#txt2img_prompt textarea", prompt)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", steps)
    set_number(page, "txt2img_batch_count", batch_count)
    page.fill("#txt2img_seed input", str(seed))
    return run_generation(page, "txt2img")


def stroke_shows(canvas_png: bytes) -> bool:
    """Whether the middle of the canvas, which the stroke crosses and the brush cursor's outline does not, is white."""
    pixels = np.asarray(Image.open(io.BytesIO(canvas_png)).convert("RGB"))
    height, width = pixels.shape[:2]
    middle = pixels[height // 2 - 5:height // 2 + 15, width // 2 - 30:width // 2 + 30]
    return float((middle > 245).all(axis=2).mean()) > 0.9


def paint_mask(page, canvas_selector: str, attempts: int = 3) -> None:
    """Draws a white brush stroke across the middle of the image editor and checks that it shows on the canvas.

    A stroke made while the editor is still taking in a freshly sent image can be dropped by gradio's editor; the
    stroke is then drawn again, as a user would."""
    canvas = page.locator(canvas_selector).first
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for _ in range(attempts):
        page.mouse.move(x - 40, y)
        page.wait_for_timeout(300)
        page.mouse.down()
        page.mouse.move(x + 40, y + 10, steps=3)  # each move repaints the WebGL canvas: slow in software
        page.mouse.up()
        page.wait_for_timeout(700)
        if stroke_shows(canvas.screenshot()):
            return
    pytest.fail("the brush strokes never showed on the inpaint editor's canvas")


def png_with_infotext(data: bytes, size=(64, 64)) -> str:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == size
    infotext = image.info.get("parameters")
    assert infotext, "the PNG carries no parameters text"
    return infotext


def test_ui_is_served_only_at_subpath_and_only_after_login(ui_server):
    assert requests.get(f"{ui_server.url}/", timeout=30).status_code == 401, "outside the UI: credentials first"
    assert requests.get(f"{ui_server.url}/{SUBPATH}/config", timeout=30).status_code == 401
    login = requests.post(f"{ui_server.url}/{SUBPATH}/login", data={"username": "other", "password": "pw"},
                          timeout=30)
    assert login.status_code == 200
    assert requests.get(f"{ui_server.url}/{SUBPATH}/config", cookies=login.cookies, timeout=30).status_code == 200
    assert requests.get(f"{ui_server.url}/", cookies=login.cookies, timeout=30).status_code == 404
    assert requests.get(f"{ui_server.url}/sdapi/v1/sd-models", timeout=30).status_code == 401
    assert requests.get(f"{ui_server.url}/sdapi/v1/sd-models", cookies=login.cookies, timeout=30).status_code == 200


def test_the_theme_flag_makes_the_page_dark_unless_the_address_asks_otherwise(page, ui_url):
    assert page.evaluate("document.body.classList.contains('dark')")
    assert "__theme=dark" in page.url
    page.goto(f"{ui_url}?__theme=light")
    page.wait_for_selector("#txt2img_prompt textarea", timeout=60_000)
    assert not page.evaluate("document.body.classList.contains('dark')")


def test_txt2img_generates_png_with_seed_in_info(page):
    png = generate_txt2img(page, steps=3)
    screenshot(page, "browser_ui_txt2img.png")
    infotext = png_with_infotext(png)
    shown = page.inner_text("#html_info_txt2img")
    assert "a red apple" in shown and "Size: 64x64" in shown and "Steps: 3" in shown, shown
    seed = SEED_RE.search(shown).group(1)
    assert f"Seed: {seed}" in infotext
    assert page.is_visible("#txt2img_generate") and not page.is_visible("#txt2img_interrupt")

    page.click("#txt2img_reuse_seed")  # ♻️ puts the seed of the shown image into the Seed box
    page.wait_for_function("seed => document.querySelector('#txt2img_seed input').value === seed", arg=seed)


def test_progress_bar_live_preview_and_interrupt(page):
    page.fill("#txt2img_prompt textarea", "a long job")
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", 150)
    set_number(page, "txt2img_batch_count", 8)
    started = time.monotonic()
    page.click("#txt2img_generate")
    page.wait_for_function("() => /\\d+% ETA: /.test(document.querySelector('#txt2img_progress').innerText)",
                           timeout=GENERATION_TIMEOUT_MS)
    page.wait_for_selector("#txt2img_live_preview img.livePreview", timeout=GENERATION_TIMEOUT_MS)
    assert page.is_visible("#txt2img_interrupt") and page.is_visible("#txt2img_skip")
    assert not page.is_visible("#txt2img_generate")
    screenshot(page, "browser_ui_progress.png")

    page.click("#txt2img_interrupt")
    page.wait_for_selector("#txt2img_gallery img", timeout=GENERATION_TIMEOUT_MS)
    png_with_infotext(shown_png(page, "txt2img"))
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"8 x 150 steps were not interrupted: the job took {elapsed:.0f}s"
    page.wait_for_selector("#txt2img_generate", state="visible")
    assert not page.is_visible("#txt2img_interrupt")
    assert not page.is_visible("#txt2img_live_preview img.livePreview")


def test_paste_button_fills_fields_from_infotext(page):
    infotext = ("a cat in a hat\nNegative prompt: blurry\nSteps: 13, Sampler: Euler a, Schedule type: Karras, "
                "CFG scale: 4.5, Seed: 1234, Size: 96x128, Denoising strength: 0.4, Hires upscale: 1.5, "
                "Hires upscaler: Latent, Version: v1.10.0")
    page.fill("#txt2img_prompt textarea", infotext)
    page.click("#paste")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a cat in a hat'")
    assert page.input_value("#txt2img_neg_prompt textarea") == "blurry"
    assert number_value(page, "txt2img_steps") == "13"
    assert number_value(page, "txt2img_cfg_scale") == "4.5"
    assert number_value(page, "txt2img_width") == "96" and number_value(page, "txt2img_height") == "128"
    assert page.input_value("#txt2img_seed input") == "1234"
    assert page.input_value("#txt2img_sampling input") == "Euler a"
    assert page.input_value("#txt2img_scheduler input") == "Karras"
    assert page.is_checked("#txt2img_enable_hr input")
    assert number_value(page, "txt2img_hr_scale") == "1.5"
    assert number_value(page, "txt2img_denoising_strength") == "0.4"


def test_a_pasted_refiner_fills_the_refiner_accordion_and_the_generation_switches_to_it(page):
    infotext = (f"a red apple\nSteps: 4, Sampler: Euler, Seed: 5, Size: 64x64, Refiner: {CHECKPOINT_B} [0123456789], "
                "Refiner switch at: 0.5")
    page.fill("#txt2img_prompt textarea", infotext)
    page.click("#paste")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a red apple'")
    assert page.is_checked("#script_txt2img_refiner_enable input")
    assert CHECKPOINT_B in page.input_value("#script_txt2img_refiner_checkpoint input")
    assert number_value(page, "script_txt2img_refiner_switch_at") == "0.5"
    infotext = png_with_infotext(run_generation(page, "txt2img"))
    assert f"Refiner: {CHECKPOINT_B} [" in infotext and "Refiner switch at: 0.5" in infotext
    page.uncheck("#script_txt2img_refiner_enable input")
    assert "Refiner" not in png_with_infotext(run_generation(page, "txt2img"))


def test_the_style_editor_saves_a_style_the_styles_dropdown_then_offers_and_apply_writes_it_into_the_prompt(page):
    page.fill("#txt2img_prompt textarea", "a cat")
    page.click("#txt2img_styles_edit_button")
    page.fill("#txt2img_styles_edit_select input", "ui-made style")
    page.press("#txt2img_styles_edit_select input", "Enter")
    page.fill("#txt2img_edit_style_prompt textarea", "{prompt} in a hat")
    page.click("#txt2img_edit_style_save")
    page.click("#txt2img_styles input")
    page.get_by_role("option", name="ui-made style").click()
    page.click("#txt2img_style_apply")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a cat in a hat'")
    page.click("#txt2img_edit_style_delete")  # the style is picked in the dialog still
    page.click("#txt2img_edit_style_close")
    page.wait_for_selector("#txt2img_styles_dialog", state="hidden")


def test_lora_card_click_adds_its_tag_to_the_prompt_and_generation_applies_it(page):
    page.fill("#txt2img_prompt textarea", "a red apple")
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", 2)
    page.get_by_role("tab", name="Lora").first.click()
    page.locator("#txt2img_lora_cards .gallery-item", has_text=LORA_NAME).locator("button").first.click()
    page.wait_for_function("text => document.querySelector('#txt2img_prompt textarea').value === text",
                           arg=f"a red apple <lora:{LORA_NAME}:1>")
    screenshot(page, "browser_ui_lora_cards.png")

    page.get_by_role("tab", name="Generation").first.click()
    infotext = png_with_infotext(run_generation(page, "txt2img"))
    assert f"a red apple <lora:{LORA_NAME}:1>" in infotext and f"Lora hashes: \"{LORA_NAME}: " in infotext


def test_pnginfo_shows_parameters_and_sends_to_txt2img(page, tmp_path):
    png = generate_txt2img(page, prompt="a green pear", steps=2, seed=4321)
    path = tmp_path / "generated.png"
    path.write_bytes(png)
    page.fill("#txt2img_prompt textarea", "")

    page.get_by_role("tab", name="PNG Info").click()
    page.set_input_files("#pnginfo_image input[type=file]", str(path))
    page.wait_for_function("() => document.querySelector('#pnginfo_html').innerText.includes('Seed: 4321')",
                           timeout=30_000)
    assert "a green pear" in page.inner_text("#pnginfo_html")

    page.click("#pnginfo_send_to_txt2img")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a green pear'")
    assert page.is_visible("#txt2img_generate")  # the txt2img tab is shown again
    assert number_value(page, "txt2img_steps") == "2"
    assert page.input_value("#txt2img_seed input") == "4321"


def test_img2img_reports_missing_image_then_inpaints_a_painted_mask(page):
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.click("#img2img_generate")
    page.wait_for_selector("#html_log_img2img .error", timeout=GENERATION_TIMEOUT_MS)
    assert "No input image" in page.inner_text("#html_log_img2img")

    page.get_by_role("tab", name="txt2img").click()
    generate_txt2img(page, prompt="a blue box", steps=2)
    page.click("#txt2img_send_to_inpaint")
    page.wait_for_function("() => { const editor = document.querySelector('#img2maskimg'); "
                           "return editor && editor.querySelector('canvas') && !editor.innerText.includes('Upload'); }")
    assert page.is_visible("#inpaint_controls")
    assert page.input_value("#img2img_prompt textarea") == "a blue box"
    assert number_value(page, "img2img_width") == "64"

    paint_mask(page, "#img2maskimg canvas")
    infotext = png_with_infotext(run_generation(page, "img2img"))
    screenshot(page, "browser_ui_inpaint.png")
    assert "Mask blur: 4" in infotext and "Denoising strength: 0.75" in infotext
    assert "Mask blur: 4" in page.inner_text("#html_info_img2img")
    assert not page.locator("#html_log_img2img .error").count()


def test_inpaint_upload_generates_from_an_uploaded_image_and_mask(page, tmp_path):
    Image.new("RGB", (64, 64), "red").save(tmp_path / "picture.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    mask.save(tmp_path / "mask.png")
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.get_by_role("tab", name="Inpaint upload").click()
    page.set_input_files("#img_inpaint_base input[type=file]", str(tmp_path / "picture.png"))
    page.set_input_files("#img_inpaint_mask input[type=file]", str(tmp_path / "mask.png"))
    page.wait_for_function("() => document.querySelectorAll('#img_inpaint_base img, #img_inpaint_mask img').length >= 2")
    # the tab's controls change after the server answers the tab switch: waited for, each must come to pass
    page.wait_for_selector("#inpaint_controls", state="visible")
    page.wait_for_selector("#img2img_mask_alpha", state="hidden")
    page.fill("#img2img_prompt textarea", "a blue box")
    set_number(page, "img2img_width", 64)
    set_number(page, "img2img_height", 64)
    set_number(page, "img2img_steps", 2)
    infotext = png_with_infotext(run_generation(page, "img2img"))
    assert "Mask blur: 4" in infotext and "Size: 64x64" in infotext


def test_settings_apply_saves_config(page, ui_server):
    page.get_by_role("tab", name="Settings").click()
    checkbox = page.get_by_label("Add extended info (seed, prompt) to filename when saving grid")
    checkbox.check()
    page.click("#settings_submit")
    page.wait_for_function("() => document.querySelector('#settings_result').innerText.includes('changed')")
    assert "1 settings changed: grid_extended_filename." in page.inner_text("#settings_result")
    # A1111's `opts` in the page follows, and the test extension's onOptionsChanged callback saw the change
    page.wait_for_selector("body[data-test-extension-grid-extended=true]")
    assert page.evaluate("() => opts.grid_extended_filename") is True
    with open(os.path.join(ui_server.data_dir, "config.json"), encoding="utf8") as file:
        assert json.load(file)["grid_extended_filename"] is True


def test_checkpoint_dropdown_switches_model_and_refreshes(page, ui_server, checkpoint_dir):
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    page.click("#setting_sd_model_checkpoint input")
    page.get_by_role("option", name=re.compile(CHECKPOINT_B)).click()
    page.get_by_text(re.compile(f"Stable Diffusion checkpoint: {CHECKPOINT_B}")).first.wait_for(timeout=60_000)
    options = requests.get(f"{ui_server.url}/sdapi/v1/options", auth=(USER, PASSWORD), timeout=30).json()
    assert options["sd_model_checkpoint"].startswith(CHECKPOINT_B)
    generate_txt2img(page, steps=2)
    assert f"Model: {CHECKPOINT_B}" in page.inner_text("#html_info_txt2img")

    make_tiny_checkpoint("sd15", os.path.join(checkpoint_dir, f"{CHECKPOINT_C}.safetensors"), seed=2)
    page.click("#refresh_sd_model_checkpoint")
    page.wait_for_timeout(1000)
    page.click("#setting_sd_model_checkpoint input")
    page.get_by_role("option", name=re.compile(CHECKPOINT_C)).wait_for(timeout=10_000)


def choose_checkpoint(page, name: str) -> None:
    page.click("#setting_sd_model_checkpoint input")
    page.get_by_role("option", name=re.compile(name)).click()
    page.get_by_text(re.compile(f"Stable Diffusion checkpoint: {name}")).first.wait_for(timeout=60_000)


def check_tabs_show(page, size: int, placeholder_start: str) -> None:
    """Both tabs' size sliders and prompt placeholder, ending on txt2img (gradio draws only the shown tab)."""
    for tabname in ("img2img", "txt2img"):
        page.get_by_role("tab", name=tabname, exact=True).first.click()
        page.wait_for_function("([id, size]) => document.querySelector(`#${id} input[type=number]`)?.value === size",
                               arg=[f"{tabname}_width", str(size)], timeout=10_000)
        assert number_value(page, f"{tabname}_height") == str(size)
        assert page.get_attribute(f"#{tabname}_prompt textarea", "placeholder").startswith(placeholder_start)


def test_size_and_placeholder_follow_the_checkpoint(page):
    """The embedded demo model states 32x32 and an example prompt; the tiny checkpoints state neither."""
    page.fill("#txt2img_prompt textarea", "")
    choose_checkpoint(page, DEMO_CHECKPOINT)
    check_tabs_show(page, 32, DEMO_EXAMPLE_PROMPT)
    assert page.input_value("#txt2img_prompt textarea") == DEMO_EXAMPLE_PROMPT, "an empty prompt takes the example"
    set_number(page, "txt2img_steps", 4)
    png_with_infotext(run_generation(page, "txt2img"), size=(32, 32))
    assert f"Model: {DEMO_CHECKPOINT}" in page.inner_text("#html_info_txt2img")

    choose_checkpoint(page, CHECKPOINT_B)
    check_tabs_show(page, 512, "Prompt\n")
    assert page.input_value("#txt2img_prompt textarea") == "", "the example goes with its checkpoint"


def test_settings_explain_options_that_cannot_change(monkeypatch):
    """Frozen and restricted options: read-only in the UI with the reason, and refused by Apply with a message."""
    import gradio as gr

    from modules import shared, ui_settings

    monkeypatch.setattr(shared.cmd_opts, "hide_ui_dir_config", True)
    monkeypatch.setattr(shared.cmd_opts, "freeze_specific_settings", "grid_save")
    with gr.Blocks():
        frozen = ui_settings.create_setting_component("grid_save")
        editable = ui_settings.create_setting_component("grid_format")
    assert frozen.interactive is False and "frozen" in frozen.info
    assert editable.interactive is not False

    monkeypatch.setattr(shared, "config_filename", os.path.join(tempfile.mkdtemp(), "config.json"))
    changed, problems = ui_settings.apply_settings(["outdir_samples", "grid_save"], ["/elsewhere", False])
    assert changed == []
    message = ui_settings.result_html(changed, problems)
    assert "0 settings changed." in message
    assert "restricted" in message and "frozen" in message


def test_prompt_bracket_checker_marks_unpaired_brackets(page):
    page.fill("#txt2img_prompt textarea", "a (red circle")
    page.wait_for_selector("#txt2img_prompt.prompt-bracket-mismatch")
    title = page.get_attribute("#txt2img_prompt textarea", "title")
    assert "round brackets: 1 more opening than closing" in title
    page.fill("#txt2img_prompt textarea", "a (red) circle \\[")
    page.wait_for_selector("#txt2img_prompt:not(.prompt-bracket-mismatch)")


def test_alwayson_extension_script_runs_from_its_ui_controls(page):
    page.check("#script_txt2img_test_extension_enabled input")
    page.fill("#script_txt2img_test_extension_tag textarea, #script_txt2img_test_extension_tag input", "browser")
    png = generate_txt2img(page, prompt="a blue square", steps=2, seed=5)
    assert "Test extension: browser clip 1" in png_with_infotext(png)


def test_extensions_tab_lists_builtin_and_installed_extensions(page):
    page.get_by_role("tab", name="Extensions", exact=True).first.click()
    table = page.inner_text("#extensions_table")
    assert TEST_EXTENSION in table and "prompt-bracket-checker" in table


def test_extension_javascript_gets_a1111_helpers_and_callbacks(page):
    """The test extension's javascript/test_hooks.js registers onUiLoaded / onUiTabChange / onAfterUiUpdate
    (javascript/script.js) and marks the page from them through gradioApp() and get_uiCurrentTab*()."""
    page.wait_for_selector("body[data-test-extension-updated=yes]")
    assert page.get_attribute("#txt2img_prompt", "data-test-extension-loaded") == "1"
    assert page.evaluate("() => gradioApp().querySelector('#txt2img_prompt') !== null")
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.wait_for_selector("body[data-test-extension-tab='img2img|tab_img2img']")
    assert page.evaluate("() => get_uiCurrentTabContent().id") == "tab_img2img"


def test_extension_javascript_waiting_for_dom_content_loaded_runs_and_fetches_its_asset(page):
    page.wait_for_selector("body[data-test-extension-dom-ready=yes]")
    page.wait_for_selector("body[data-test-extension-asset='red,circle']")


def test_gradio3_selectors_of_extensions_find_the_prompt_box(page):
    page.wait_for_selector("body[data-test-extension-gradio3-selector=found]")
    assert page.evaluate("() => document.querySelectorAll('#txt2img_prompt > label > textarea').length") == 1


def test_file_route_serves_extension_assets_under_the_subpath_behind_the_login(ui_server):
    asset = f"{ui_server.url}/{SUBPATH}/file=extensions/{TEST_EXTENSION}/assets/tags.csv"
    assert requests.get(asset, timeout=60).status_code == 401
    answer = requests.get(asset, auth=(USER, PASSWORD), timeout=60)
    assert answer.status_code == 200 and answer.text.startswith("red,circle")
    for outside in ("config.json", f"extensions/{TEST_EXTENSION}/../../config.json", "/etc/passwd"):
        assert requests.get(f"{ui_server.url}/{SUBPATH}/file={outside}", auth=(USER, PASSWORD),
                            timeout=60).status_code == 404


def test_token_counter_follows_the_prompt_and_a1111_buttons_are_in_the_page(page):
    page.fill("#txt2img_prompt textarea", "a red circle <lora:tiny-ui-lora:1>")
    page.wait_for_function("() => document.querySelector('#txt2img_token_counter').textContent.trim() === '3/75'")
    for elem_id in ("txt2img_interrupt", "txt2img_skip", "txt2img_generation_info_button", "generation_info_txt2img"):
        assert page.locator(f"#{elem_id}").count() == 1, elem_id
    page.get_by_role("tab", name="img2img", exact=True).first.click()  # Gradio builds a tab's page when first shown
    page.wait_for_selector("#img2img_token_counter")
    assert page.locator("#img2img_interrupt").count() == 1


def test_a_queued_generation_shows_its_place_its_interrupt_cancels_only_it_and_the_queue_tab_cancels(page, ui_server):
    api = requests.Session()
    api.auth = (USER, PASSWORD)
    busy = api.post(f"{ui_server.url}/sdapi/v2/jobs", json={"type": "txt2img", "params": {
        "prompt": "keeps the queue busy", "width": 64, "height": 64, "steps": 150, "n_iter": 8}}, timeout=60).json()
    assert busy["state"] == "queued", busy

    def busy_state() -> str:
        return api.get(f"{ui_server.url}/sdapi/v2/jobs/{busy['id']}", timeout=60).json()["state"]

    deadline = time.monotonic() + 60
    while busy_state() != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    page.fill("#txt2img_prompt textarea", "waits its turn")
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", 3)
    page.click("#txt2img_generate")
    page.wait_for_function("() => /In queue: 1\\/1/.test(document.querySelector('#txt2img_progress').innerText)",
                           timeout=GENERATION_TIMEOUT_MS)
    screenshot(page, "browser_ui_queued.png")
    page.click("#txt2img_interrupt")
    page.wait_for_selector("#html_log_txt2img .error", timeout=GENERATION_TIMEOUT_MS)
    assert "cancelled before it ran" in page.inner_text("#html_log_txt2img")
    assert busy_state() == "running", "the page's Interrupt reached another job"

    page.click("#tab_queue-button") if page.locator("#tab_queue-button").count() else \
        page.get_by_role("tab", name="Queue").click()
    page.click("#queue_refresh")
    page.wait_for_function("(id) => document.querySelector('#queue_jobs').innerText.includes(id)", arg=busy["id"],
                           timeout=30_000)
    screenshot(page, "browser_ui_queue_tab.png")
    page.fill("#queue_job_id textarea", busy["id"])
    page.click("#queue_cancel")
    page.wait_for_function("() => /Cancelled task/.test(document.querySelector('#queue_message').innerText)",
                           timeout=30_000)
    deadline = time.monotonic() + 60
    while busy_state() != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert busy_state() == "cancelled"


def test_extras_tab_upscales_an_uploaded_image(page, tmp_path):
    path = tmp_path / "source.png"
    Image.new("RGB", (48, 32), "blue").save(path)
    page.get_by_role("tab", name="Extras").click()
    page.set_input_files("#extras_image input[type=file]", str(path))
    page.click("#extras_upscaler_1 input")
    page.get_by_role("option", name="Lanczos", exact=True).click()
    page.click("#extras_generate")
    page.wait_for_selector("#extras_gallery img", timeout=GENERATION_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#html_info_extras').innerText.includes('Lanczos')",
                           timeout=30_000)
    source = page.locator("#extras_gallery img").first.get_attribute("src")
    with Image.open(io.BytesIO(page.request.get(source).body())) as shown:
        assert shown.size == (96, 64)
