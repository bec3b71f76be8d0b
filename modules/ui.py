"""The browser UI: create_ui() builds the gr.Blocks; mount(app) serves it on the FastAPI app at / (or --subpath)."""

import json
import logging
import os

import gradio as gr

from modules import (
    call_queue,
    extensions,
    file_route,
    gradio_extensions,
    infotext_utils,
    script_callbacks,
    scripts,
    shared,
    ui_extensions,
    ui_extra_networks,
    ui_extras,
    ui_img2img,
    ui_model_defaults,
    ui_paste,
    ui_pnginfo,
    ui_queue,
    ui_settings,
    ui_txt2img,
)
from modules.api import auth
from modules.paths_internal import script_path
from modules.ui_common import selected_image_and_infotext
from modules.ui_components import create_refresh_button  # noqa: F401 (A1111 name)

log = logging.getLogger(__name__)

TITLE = "Stable Diffusion"
TAB_TXT2IMG, TAB_IMG2IMG, TAB_PNGINFO, TAB_SETTINGS = "txt2img", "img2img", "pnginfo", "settings"
TAB_QUEUE = "queue"
TAB_EXTRAS = "extras"
TAB_EXTENSIONS = "extensions"


def register_send_targets(tabs: gr.Tabs, img2img_tab: ui_img2img.Img2ImgTab) -> None:
    """txt2img, img2img and inpaint as destinations of the "Send to ..." buttons."""
    ui_paste.add_send_target(ui_paste.SendTarget("txt2img", updates=[(tabs, gr.update(selected=TAB_TXT2IMG))]))
    to_img2img = [(tabs, gr.update(selected=TAB_IMG2IMG))]
    ui_paste.add_send_target(ui_paste.SendTarget("img2img", image=img2img_tab.init_img, updates=[
        *to_img2img, (img2img_tab.mode_tabs, gr.update(selected=ui_img2img.IMG2IMG_TAB_ID)),
        (img2img_tab.mode, ui_img2img.img2img.MODE_IMG2IMG), (img2img_tab.inpaint_controls, gr.update(visible=False)),
    ]))
    ui_paste.add_send_target(ui_paste.SendTarget(
        "inpaint", fields_of="img2img", image=img2img_tab.init_img_with_mask, image_value=ui_img2img.editor_value,
        updates=[*to_img2img, (img2img_tab.mode_tabs, gr.update(selected=ui_img2img.INPAINT_TAB_ID)),
                 (img2img_tab.mode, ui_img2img.img2img.MODE_INPAINT),
                 (img2img_tab.inpaint_controls, gr.update(visible=True))]))


def connect_send_buttons(txt2img_tab, img2img_tab, pnginfo_tab) -> None:
    for panel in (txt2img_tab.panel, img2img_tab.panel):
        inputs = [panel.gallery, panel.selected_index, panel.generation_info]
        ui_paste.connect_send(panel.button_send_img2img, "img2img", selected_image_and_infotext, inputs)
        ui_paste.connect_send(panel.button_send_inpaint, "inpaint", selected_image_and_infotext, inputs)

    def from_pnginfo(image, text):
        return image, text

    inputs = [pnginfo_tab.image, pnginfo_tab.generation_info]
    ui_paste.connect_send(pnginfo_tab.send_txt2img, "txt2img", lambda image, text: (None, text), inputs)
    ui_paste.connect_send(pnginfo_tab.send_img2img, "img2img", from_pnginfo, inputs)
    ui_paste.connect_send(pnginfo_tab.send_inpaint, "inpaint", from_pnginfo, inputs)


def extension_tab_entries(entries: list) -> list[tuple]:
    """The (blocks, title, elem_id) entries extensions returned from on_ui_tabs; malformed ones are reported and left
    out, so one broken extension does not take the UI down."""
    valid = []
    for entry in entries:
        if isinstance(entry, tuple | list) and len(entry) == 3 and isinstance(entry[0], gr.Blocks):
            valid.append(tuple(entry))
        else:
            log.error("Ignoring an on_ui_tabs entry that is not (gradio Blocks, title, elem_id): %r", entry)
    return valid


def create_ui(jobs) -> gr.Blocks:
    """The UI; its tabs generate through the job queue `jobs`."""
    gradio_extensions.install()
    infotext_utils.reset()
    ui_extra_networks.initialize()
    script_callbacks.before_ui_callback()
    script_callbacks.ui_settings_callback()
    settings = ui_settings.UiSettings()
    defaults = ui_model_defaults.selected_checkpoint_defaults()
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        settings.add_quicksettings()
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id=TAB_TXT2IMG, elem_id="tab_txt2img"):
                scripts.scripts_current = scripts.scripts_txt2img
                txt2img_tab = ui_txt2img.create_tab(jobs, defaults)
            with gr.Tab("img2img", id=TAB_IMG2IMG, elem_id="tab_img2img"):
                scripts.scripts_current = scripts.scripts_img2img
                img2img_tab = ui_img2img.create_tab(jobs, defaults)
            scripts.scripts_current = None
            with gr.Tab("Extras", id=TAB_EXTRAS, elem_id="tab_extras"):
                ui_extras.create_tab(call_queue.queue_lock)
            with gr.Tab("PNG Info", id=TAB_PNGINFO, elem_id="tab_pnginfo"):
                pnginfo_tab = ui_pnginfo.create_tab()
            # after txt2img/img2img, as in A1111, so extension tabs can use what they saw of those tabs; outside
            # the UI's Blocks, so each tab is built once, as its own Blocks, and one that raises leaves the rest
            with gradio_extensions.outside_blocks():
                extension_tabs = extension_tab_entries(script_callbacks.ui_tabs_callback())
            for blocks, title, elem_id in extension_tabs:
                with gr.Tab(title, id=elem_id, elem_id=f"tab_{elem_id}"):
                    blocks.render()
            with gr.Tab("Queue", id=TAB_QUEUE, elem_id="tab_queue"):
                ui_queue.create_tab(jobs)
            with gr.Tab("Extensions", id=TAB_EXTENSIONS, elem_id="tab_extensions"):
                ui_extensions.create_tab()
            with gr.Tab("Settings", id=TAB_SETTINGS, elem_id="tab_settings"):
                settings.create_ui()
        settings.add_settings_json()
        settings.add_functionality()
        register_send_targets(tabs, img2img_tab)
        connect_send_buttons(txt2img_tab, img2img_tab, pnginfo_tab)
        infotext_utils.connect_paste_params_buttons()
        checkpoint_dropdown = settings.quicksettings.get("sd_model_checkpoint")
        if checkpoint_dropdown is not None:
            ui_model_defaults.connect_checkpoint_dropdown(checkpoint_dropdown, defaults, [
                (tab.toprow, tab.fields["width"], tab.fields["height"]) for tab in (txt2img_tab, img2img_tab)])
    shared.tab_names = ["txt2img", "img2img", "PNG Info", *(title for _, title, _ in extension_tabs), "Extensions",
                        "Settings"]
    shared.demo = demo
    return demo


def gradio_auth() -> list[tuple[str, str]] | None:
    """The UI's users (--gradio-auth, --gradio-auth-path) as Gradio takes them; None without."""
    return auth.ui_credentials(shared.cmd_opts) or None


def mount_path() -> str:
    subpath = (shared.cmd_opts.subpath or "").strip("/")
    return f"/{subpath}" if subpath else "/"


def _read_text(path: str) -> str:
    with open(path, encoding="utf8") as file:
        return file.read()


def _javascript_files(root: str) -> list[str]:
    folder = os.path.join(root, "javascript")
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".js")]


def theme_script(theme: str | None) -> str:
    """--theme: the page in that theme unless its address names one (Gradio's __theme parameter), and the address
    given the parameter, so that Gradio keeps it whether it reads it before or after this runs (Gradio adds the head
    to the page itself, once it has started)."""
    if not theme:
        return ""
    return ("<script>(() => { const url = new URL(window.location.href); if (url.searchParams.has('__theme')) return; "
            f"const theme = {json.dumps(theme)}; url.searchParams.set('__theme', theme); "
            "history.replaceState(history.state, '', url); "
            "if (document.body) document.body.classList.toggle('dark', theme === 'dark'); })();</script>")


def head_html() -> str:
    """The --theme script, our scripts from javascript/, then each active extension's javascript/, inlined into the
    page head."""
    files = _javascript_files(script_path)
    for ext in extensions.active():
        files += _javascript_files(ext.path)
    return theme_script(shared.cmd_opts.theme) + "".join(f"<script>{_read_text(path)}</script>" for path in files)


def css_paths() -> list[str]:
    """style.css, then each active extension's style.css."""
    candidates = [os.path.join(script_path, "style.css"), *(os.path.join(e.path, "style.css") for e in extensions.active())]
    return [path for path in candidates if os.path.exists(path)]


def mount(app, jobs):
    """Builds the UI (generating through the job queue `jobs`) and mounts it on app (gradio's own routes live under
    the mount path); returns app."""
    demo = create_ui(jobs)
    demo.queue(default_concurrency_limit=1)
    file_route.add_route(app, mount_path(), shared.opts, shared.cmd_opts)
    host = shared.cmd_opts.server_name or ("0.0.0.0" if shared.cmd_opts.listen else "127.0.0.1")
    port = shared.cmd_opts.port or 7860
    return gr.mount_gradio_app(
        app, demo, path=mount_path(), server_name=host, server_port=port, auth=gradio_auth(),
        footer_links=["api", "gradio", "settings"], run_history=False, ssr_mode=False, show_error=True,
        allowed_paths=shared.cmd_opts.gradio_allowed_path or None, css_paths=css_paths(), head=head_html(),
        theme=gr.themes.Default(primary_hue="orange"),
    )
