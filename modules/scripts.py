"""A1111's script system: Script classes loaded from scripts/ and each extension's scripts/, and one ScriptRunner
per tab (txt2img, img2img) that lays out their arguments and calls their hooks during a generation.

Argument layout, as in A1111: the runner's inputs are [selectable-script index, *always-on script controls,
*selectable script controls]; each script reads its slice p.script_args[args_from:args_to]. Index 0 means "None";
index i runs selectable_scripts[i - 1]."""

import dataclasses
import logging
import os
import re
import sys
import threading
from collections import namedtuple

from modules import extension_errors, extensions, script_callbacks, script_loading
from modules.paths_internal import script_path

log = logging.getLogger(__name__)

AlwaysVisible = object()
"""Script.show() returns this for a script that runs on every generation and shows its UI in its own group."""


class PostprocessImageArgs:
    def __init__(self, image):
        self.image = image


class PostprocessBatchListArgs:
    def __init__(self, images):
        self.images = images


class PostSampleArgs:
    def __init__(self, samples):
        self.samples = samples


class PostProcessMaskOverlayArgs:
    def __init__(self, index, mask_for_overlay, overlay_image):
        self.index = index
        self.mask_for_overlay = mask_for_overlay
        self.overlay_image = overlay_image


@dataclasses.dataclass
class OnComponent:
    component: object


class ScriptError(Exception):
    """A selectable script failed: names the script and its file."""


class Script:
    """Base class of every script; the webui calls the methods below (all optional except title)."""

    name = None
    """the lower-case title, set when the runner lays the script out (A1111's API names scripts by it)"""
    section = None
    filename = None
    args_from = None
    args_to = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    group = None
    create_group = True
    infotext_fields = None
    """(component, infotext key or function) pairs to fill from pasted infotext"""
    paste_field_names = None
    api_info = None
    setup_for_ui_only = False
    controls = None
    tabname = None
    on_before_component_elem_id = None
    """[(elem_id, callback)] registered with on_before_component"""
    on_after_component_elem_id = None
    """[(elem_id, callback)] registered with on_after_component"""

    @property
    def failed_hooks(self) -> set[str]:
        """The always-on hooks of this script that raised: not run again until the webui restarts."""
        return self.__dict__.setdefault("_failed_hooks", set())

    def title(self):
        """The name shown in the Script dropdown and used by the API's script_name / alwayson_scripts."""
        raise NotImplementedError()

    def ui(self, is_img2img):
        """Creates the script's Gradio components; their values arrive as the script's arguments, in order."""
        return None

    def show(self, is_img2img):
        """True: selectable in this tab; False: hidden; AlwaysVisible: always on."""
        return True

    def run(self, p, *args):
        """A selectable script's generation; returns a Processed."""
        return None

    def setup(self, p, *args):
        """Always-on: right after the processing object gets its script arguments."""

    def before_process(self, p, *args):
        """Always-on: before override_settings are applied."""

    def process(self, p, *args):
        """Always-on: after seeds and prompts are set, before p.init."""

    def before_process_batch(self, p, *args, **kwargs):
        """Always-on: before each batch (kwargs: batch_number, prompts, seeds, subseeds); prompts may be edited."""

    def before_hr(self, p, *args):
        """Always-on: before the hires-fix second pass."""

    def postprocess_maskoverlay(self, p, ppmo: PostProcessMaskOverlayArgs, *args):
        """Always-on: an inpainting result's mask and overlay before they are laid over the image."""

    def after_extra_networks_activate(self, p, *args, **kwargs):
        """Always-on: after extra networks (LoRA) are activated for a batch."""

    def process_batch(self, p, *args, **kwargs):
        """Always-on: before the batch's conditioning is computed."""

    def post_sample(self, p, ps: PostSampleArgs, *args):
        """Always-on: latents after sampling, before decoding (replace ps.samples to change them)."""

    def postprocess_batch(self, p, *args, **kwargs):
        """Always-on: the decoded batch (kwargs: images, batch_number)."""

    def postprocess_batch_list(self, p, pp: PostprocessBatchListArgs, *args, **kwargs):
        """Always-on: the decoded batch as a list (pp.images may be replaced or extended)."""

    def postprocess_image(self, p, pp: PostprocessImageArgs, *args):
        """Always-on: each image before it is saved (replace pp.image to change it)."""

    def postprocess(self, p, processed, *args):
        """Always-on: after the whole generation."""

    def before_component(self, component, **kwargs):
        """Before each Gradio component of the tab is created."""

    def after_component(self, component, **kwargs):
        """After each Gradio component of the tab is created."""

    def on_before_component(self, callback, *, elem_id):
        """callback(OnComponent) right before the component with this elem_id is created."""
        if self.on_before_component_elem_id is None:
            self.on_before_component_elem_id = []
        self.on_before_component_elem_id.append((elem_id, callback))

    def on_after_component(self, callback, *, elem_id):
        """callback(OnComponent) right after the component with this elem_id is created."""
        if self.on_after_component_elem_id is None:
            self.on_after_component_elem_id = []
        self.on_after_component_elem_id.append((elem_id, callback))

    def describe(self):
        return ""

    def elem_id(self, item_id):
        """An HTML id for one of the script's components, unique across tabs and scripts."""
        need_tabname = self.show(True) == self.show(False)
        tabkind = "img2img" if self.is_img2img else "txt2img"
        tabname = f"{tabkind}_" if need_tabname else ""
        title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", self.title().lower()))
        return f"script_{tabname}{title}_{item_id}"


@dataclasses.dataclass(frozen=True)
class ScriptFile:
    basedir: str
    filename: str
    path: str


ScriptClassData = namedtuple("ScriptClassData", ["script_class", "path", "basedir", "module"])

scripts_data: list[ScriptClassData] = []
current_basedir = script_path


def basedir() -> str:
    """The folder of the extension (or the webui) whose script file is being imported; extensions call it at
    import to find their own files."""
    return current_basedir


def list_files_with_name(filename: str) -> list[str]:
    """filename in the webui folder and in each active extension's folder, where it exists."""
    folders = [script_path, *(ext.path for ext in extensions.active())]
    return [os.path.join(folder, filename) for folder in folders if os.path.isfile(os.path.join(folder, filename))]


def list_scripts(scriptdirname: str, extension: str, *, include_extensions: bool = True) -> list[ScriptFile]:
    """The webui's own scripts/ first, then each active extension's scripts/ (in extension order)."""
    found = []
    basedir = os.path.join(script_path, scriptdirname)
    if os.path.isdir(basedir):
        found += [ScriptFile(script_path, name, os.path.join(basedir, name)) for name in sorted(os.listdir(basedir))]
    if include_extensions:
        for ext in extensions.active():
            found += ext.list_files(scriptdirname, extension)
    return [f for f in found if os.path.splitext(f.path)[1].lower() == extension and os.path.isfile(f.path)]


def register_scripts_from_module(module, path: str) -> None:
    for obj in module.__dict__.values():
        if isinstance(obj, type) and issubclass(obj, Script) and obj is not Script:
            scripts_data.append(ScriptClassData(obj, path, current_basedir, module))


def load_scripts() -> None:
    """Imports every script file; a file that fails to import is reported and skipped."""
    global current_basedir
    scripts_data.clear()
    script_callbacks.clear_callbacks()
    syspath = sys.path
    for scriptfile in list_scripts("scripts", ".py"):
        try:
            if scriptfile.basedir != script_path:
                sys.path = [scriptfile.basedir, *sys.path]
            current_basedir = scriptfile.basedir
            script_callbacks.current_script_file = scriptfile.path
            module = script_loading.load_module(scriptfile.path)
            register_scripts_from_module(module, scriptfile.path)
        except Exception as error:
            missing = script_loading.missing_model_internals(error)
            extension_errors.report(scriptfile.path, f"Error loading script: {scriptfile.path}"
                                    + (f": {missing}" if missing else ""), exc_info=missing is None)
        finally:
            sys.path = syspath
            current_basedir = script_path
            script_callbacks.current_script_file = None


def wrap_call(func, filename: str, funcname: str, *args, default=None, **kwargs):
    try:
        return func(*args, **kwargs)
    except Exception:
        extension_errors.report(filename, f"Error calling: {filename}/{funcname}")
    return default


def _api_arg(control):
    from modules.api import models as api_models

    arg = api_models.ScriptArg(label=getattr(control, "label", None) or "")
    for field in ("value", "minimum", "maximum", "step"):
        value = getattr(control, field, None)
        if value is not None:
            setattr(arg, field, value)
    choices = getattr(control, "choices", None)
    if choices is not None:
        arg.choices = [str(c[0]) if isinstance(c, list | tuple) else str(c) for c in choices]
    return arg


class ScriptRunner:
    def __init__(self):
        self.scripts: list[Script] = []
        self.selectable_scripts: list[Script] = []
        self.alwayson_scripts: list[Script] = []
        self.titles: list[str] = []
        self.title_map: dict[str, Script] = {}
        self.infotext_fields: list = []
        self.paste_field_names: list = []
        self.inputs: list | None = None
        """the tab's script inputs once laid out (index 0: the Script dropdown, or None without UI)"""
        self.default_args: list = []
        self.is_img2img = False
        self.script_list_dropdown = None
        self.on_before_component_elem_id: dict[str, list] = {}
        self.on_after_component_elem_id: dict[str, list] = {}
        self.layout_lock = threading.Lock()

    def initialize_scripts(self, is_img2img: bool) -> None:
        """Instantiates every loaded script that shows in this tab."""
        self.scripts, self.selectable_scripts, self.alwayson_scripts = [], [], []
        self.inputs, self.default_args = None, []
        self.infotext_fields, self.paste_field_names = [], []
        self.is_img2img = is_img2img
        for data in scripts_data:
            script = wrap_call(data.script_class, data.path, "__init__")
            if script is None:
                continue
            script.filename = data.path
            script.is_txt2img = not is_img2img
            script.is_img2img = is_img2img
            script.tabname = "img2img" if is_img2img else "txt2img"
            visibility = wrap_call(script.show, script.filename, "show", is_img2img)
            if visibility == AlwaysVisible:
                script.alwayson = True
                self.scripts.append(script)
                self.alwayson_scripts.append(script)
            elif visibility:
                self.scripts.append(script)
                self.selectable_scripts.append(script)
        for script in self.scripts:
            script.name = wrap_call(script.title, script.filename, "title", default=script.filename).lower()
        self.titles = [wrap_call(s.title, s.filename, "title") or s.filename for s in self.selectable_scripts]
        self.title_map = {script.name: script for script in self.scripts}
        self.collect_component_callbacks()

    def collect_component_callbacks(self) -> None:
        """The scripts' on_before_component/on_after_component registrations, by elem_id."""
        self.on_before_component_elem_id, self.on_after_component_elem_id = {}, {}
        for script in self.scripts:
            for elem_id, callback in script.on_before_component_elem_id or []:
                self.on_before_component_elem_id.setdefault(elem_id, []).append((callback, script))
            for elem_id, callback in script.on_after_component_elem_id or []:
                self.on_after_component_elem_id.setdefault(elem_id, []).append((callback, script))

    # --- argument layout ------------------------------------------------------------------------------------

    def create_script_ui(self, script: Script) -> None:
        """Creates one script's controls in the current Gradio context and records its slice of the inputs."""
        from modules.api import models as api_models

        script.args_from = len(self.inputs)
        script.args_to = len(self.inputs)
        controls = wrap_call(script.ui, script.filename, "ui", script.is_img2img)
        if controls is None:
            return
        if isinstance(controls, dict):
            controls = list(controls.values())
        elif isinstance(controls, list | tuple):
            controls = list(controls)
        else:
            controls = [controls]
        script.controls = controls
        script.api_info = api_models.ScriptInfo(name=script.name, is_img2img=script.is_img2img,
                                                is_alwayson=script.alwayson, args=[_api_arg(c) for c in controls])
        self.infotext_fields += script.infotext_fields or []
        self.paste_field_names += script.paste_field_names or []
        self.inputs += controls
        self.default_args += [getattr(control, "value", None) for control in controls]
        script.args_to = len(self.inputs)

    def setup_ui(self) -> list:
        """The tab's script area: each always-on script in its group, then the Script dropdown and the selectable
        scripts' groups (shown when chosen). Returns the inputs to pass to the generation function."""
        import gradio as gr

        self.inputs, self.default_args = [None], [0]
        for script in self.alwayson_scripts:
            with gr.Group(elem_id=f"{'img2img' if self.is_img2img else 'txt2img'}_script_container_{len(self.inputs)}"):
                self.create_script_ui(script)
        self.script_list_dropdown = gr.Dropdown(label="Script", elem_id=self._elem_id("script_list"),
                                                choices=["None", *self.titles], value="None", type="index")
        self.inputs[0] = self.script_list_dropdown
        groups = []
        for script in self.selectable_scripts:
            with gr.Group(visible=False) as group:
                self.create_script_ui(script)
            script.group = group
            groups.append(group)

        def select_script(index):
            return [gr.update(visible=index == i + 1) for i in range(len(groups))]

        if groups:
            self.script_list_dropdown.change(fn=select_script, inputs=[self.script_list_dropdown], outputs=groups,
                                             show_progress="hidden", api_visibility="private")
        return self.inputs

    def ensure_args_layout(self) -> None:
        """Lays the arguments out without showing a UI (API without the browser UI): same slices and defaults.
        Concurrent first requests wait for one layout."""
        with self.layout_lock:
            if self.inputs is not None:
                return
            import gradio as gr

            inputs, self.inputs, self.default_args = None, [None], [0]
            try:
                with gr.Blocks():
                    for script in self.alwayson_scripts + self.selectable_scripts:
                        self.create_script_ui(script)
                inputs = self.inputs
            finally:
                self.inputs = inputs

    def _elem_id(self, item_id: str) -> str:
        return f"{'img2img' if self.is_img2img else 'txt2img'}_{item_id}"

    # --- lookup -----------------------------------------------------------------------------------------------

    def find_script(self, title: str) -> Script | None:
        """Any script of this tab by its title, case-insensitively."""
        return self.title_map.get((title or "").lower())

    def script(self, title: str) -> Script | None:
        """A1111's name for find_script."""
        return self.find_script(title)

    def selectable_index(self, title: str) -> int | None:
        """1-based index of a selectable script (0 is "None"), or None when no selectable script has that title."""
        script = self.find_script(title)
        if script is None or script not in self.selectable_scripts:
            return None
        return self.selectable_scripts.index(script) + 1

    # --- running ----------------------------------------------------------------------------------------------

    def run(self, p, *args):
        """Runs the selected script (args[0] is its 1-based index); None when no script is selected."""
        script_index = args[0] if args else 0
        if not script_index:
            return None
        script = self.selectable_scripts[script_index - 1]
        script_args = args[script.args_from:script.args_to]
        try:
            return script.run(p, *script_args)
        except Exception as e:
            log.exception("Script %s failed", script.filename)
            raise ScriptError(f"script {script.title()!r} ({script.filename}) failed: {type(e).__name__}: {e}") from e

    def _script_args(self, p, script: Script) -> list:
        return list((p.script_args or [])[script.args_from:script.args_to])

    def _alwayson(self, hook: str, p, *leading, **kwargs) -> None:
        """Runs hook on each always-on script; one that raises is reported and not run on that hook again."""
        for script in self.alwayson_scripts:
            if hook in script.failed_hooks:
                continue
            try:
                getattr(script, hook)(p, *leading, *self._script_args(p, script), **kwargs)
            except Exception:
                script.failed_hooks.add(hook)
                extension_errors.report(script.filename, f"Error running {hook}: {script.filename}; it is disabled "
                                                         "for this hook")

    def setup_scrips(self, p, *, is_ui: bool = True) -> None:
        for script in self.alwayson_scripts:
            if not is_ui and script.setup_for_ui_only:
                continue
            if "setup" in script.failed_hooks:
                continue
            try:
                script.setup(p, *self._script_args(p, script))
            except Exception:
                script.failed_hooks.add("setup")
                extension_errors.report(script.filename, f"Error running setup: {script.filename}; it is disabled "
                                                         "for this hook")

    def before_process(self, p) -> None:
        self._alwayson("before_process", p)

    def process(self, p) -> None:
        self._alwayson("process", p)

    def before_process_batch(self, p, **kwargs) -> None:
        self._alwayson("before_process_batch", p, **kwargs)

    def after_extra_networks_activate(self, p, **kwargs) -> None:
        self._alwayson("after_extra_networks_activate", p, **kwargs)

    def process_batch(self, p, **kwargs) -> None:
        self._alwayson("process_batch", p, **kwargs)

    def post_sample(self, p, ps: PostSampleArgs) -> None:
        self._alwayson("post_sample", p, ps)

    def postprocess_batch(self, p, images, **kwargs) -> None:
        self._alwayson("postprocess_batch", p, images=images, **kwargs)

    def postprocess_batch_list(self, p, pp: PostprocessBatchListArgs, **kwargs) -> None:
        self._alwayson("postprocess_batch_list", p, pp, **kwargs)

    def postprocess_image(self, p, pp: PostprocessImageArgs) -> None:
        self._alwayson("postprocess_image", p, pp)

    def postprocess(self, p, processed) -> None:
        self._alwayson("postprocess", p, processed)

    def before_hr(self, p) -> None:
        self._alwayson("before_hr", p)

    def postprocess_maskoverlay(self, p, ppmo: PostProcessMaskOverlayArgs) -> None:
        self._alwayson("postprocess_maskoverlay", p, ppmo)

    def before_component(self, component, **kwargs) -> None:
        self._component_callbacks(self.on_before_component_elem_id, component, kwargs)
        for script in self.scripts:
            wrap_call(script.before_component, script.filename, "before_component", component, **kwargs)

    def after_component(self, component, **kwargs) -> None:
        self._component_callbacks(self.on_after_component_elem_id, component, kwargs)
        for script in self.scripts:
            wrap_call(script.after_component, script.filename, "after_component", component, **kwargs)

    @staticmethod
    def _component_callbacks(by_elem_id: dict, component, kwargs: dict) -> None:
        for callback, script in by_elem_id.get(kwargs.get("elem_id"), []):
            wrap_call(callback, script.filename, "on_component", OnComponent(component=component))


scripts_txt2img: ScriptRunner = ScriptRunner()
scripts_img2img: ScriptRunner = ScriptRunner()
scripts_current: ScriptRunner | None = None
"""the runner whose tab is being built (components created now report to its scripts)"""


def initialize_scripts() -> None:
    """Loads every script file and gives each tab its runner."""
    load_scripts()
    scripts_txt2img.initialize_scripts(is_img2img=False)
    scripts_img2img.initialize_scripts(is_img2img=True)


def reload_scripts() -> None:
    """Tells the loaded scripts they are going away, then loads the script files again."""
    script_callbacks.script_unloaded_callback()
    initialize_scripts()


def runner_for(is_img2img: bool) -> ScriptRunner:
    return scripts_img2img if is_img2img else scripts_txt2img

