"""A1111's settings model: OptionInfo describes one setting, Options holds the values kept in config.json (the
base) and, for code running on a job's behalf, that job's own values (modules.runtime.options_view)."""

import contextvars
import copy
import datetime
import json
import logging
import os
import tempfile
import threading
from typing import NamedTuple

from modules import option_values, options_components, paths_internal, shared_cmd_options
from modules.runtime.options_view import OptionLayers

log = logging.getLogger(__name__)


class OptionInfo:
    def __init__(self, default=None, label="", component=None, component_args=None, onchange=None, section=None,
                 refresh=None, comment_before="", comment_after="", infotext=None, restrict_api=False,
                 category_id=None):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.category_id = category_id
        self.refresh = refresh
        self.do_not_save = False
        self.comment_before = comment_before
        """HTML shown before the label in the settings UI"""
        self.comment_after = comment_after
        """HTML shown after the label in the settings UI"""
        self.infotext = infotext
        self.restrict_api = restrict_api
        """True: the option cannot be changed through the API (opts.set(..., is_api=True))"""

    def link(self, label, url):
        self.comment_before += f"[<a href='{url}' target='_blank'>{label}</a>]"
        return self

    def js(self, label, js_func):
        self.comment_before += f"[<a onclick='{js_func}(); return false'>{label}</a>]"
        return self

    def info(self, info):
        self.comment_after += f"<span class='info'>({info})</span>"
        return self

    def html(self, html):
        self.comment_after += html
        return self

    def needs_restart(self):
        self.comment_after += " <span class='info'>(requires restart)</span>"
        return self

    def needs_reload_ui(self):
        self.comment_after += " <span class='info'>(requires Reload UI)</span>"
        return self


class OptionHTML(OptionInfo):
    """A block of explanatory HTML on the settings page; it holds no value."""

    def __init__(self, text):
        super().__init__(str(text).strip(), label="", component=options_components.HTML)
        self.do_not_save = True


def options_section(section_identifier, options_dict):
    """Puts every option of options_dict in a section: (id, label) or (id, label, category_id)."""
    for info in options_dict.values():
        info.section = tuple(section_identifier[:2])
        if len(section_identifier) == 3:
            info.category_id = section_identifier[2]
    return options_dict


class OptionsCategory(NamedTuple):
    id: str
    label: str


class OptionsCategories:
    """Groups of sections on the settings page, in registration order."""

    def __init__(self):
        self.mapping: dict[str, OptionsCategory] = {}

    def register_category(self, category_id, label):
        self.mapping.setdefault(category_id, OptionsCategory(category_id, label))
        return category_id


categories = OptionsCategories()

class SettingsNotSaved(OSError):
    """The settings file could not be written (disk full, read-only); the settings in memory are unchanged."""


_OWN_FIELDS = {"data", "data_labels", "restricted_opts", "layers", "_save_lock"}
_MISSING = object()


def _comma_list(text: str | None) -> set[str]:
    return {part.strip() for part in (text or "").split(",") if part.strip()}


class Options:
    typemap = {int: float}

    def __init__(self, data_labels: dict[str, OptionInfo], restricted_opts: set[str]):
        self.data_labels = data_labels
        self.restricted_opts = restricted_opts
        self.layers = OptionLayers(self._defaults())
        self._save_lock = threading.Lock()

    @property
    def data(self) -> dict:
        """The values by option name: the job's inside a job (its layer), the base everywhere else."""
        return self.layers.current()

    @data.setter
    def data(self, values: dict):
        self.layers.replace_current(values)

    def _defaults(self) -> dict:
        return {key: copy.deepcopy(info.default) for key, info in self.data_labels.items() if not info.do_not_save}

    def __setattr__(self, key, value):
        if key in _OWN_FIELDS:
            return super().__setattr__(key, value)
        if key not in self.data_labels:
            raise AttributeError(f"unknown option: {key}")
        self._assign(key, value)

    def __getattr__(self, item):
        layers = self.__dict__.get("layers")
        if layers is not None:
            layer = layers.bound.get()
            value = (layers.base if layer is None else layer.values).get(item, _MISSING)
            if value is not _MISSING:
                return value
        labels = self.__dict__.get("data_labels") or {}
        if item in labels:
            return labels[item].default
        raise AttributeError(f"unknown option: {item}")

    def _assign(self, key, value):
        if self.check_value(key, value):
            self.data[key] = value

    def check_value(self, key, value, is_api=False) -> bool:
        """True when setting key to value would change it. Raises what setting it would: KeyError for an unknown key,
        RuntimeError for a frozen option or (is_api) one restricted from the API, TypeError for a value of the wrong
        type, a ValueError (option_values.BadOptionValue, output_paths.OutsideDataDir / NotAFileName) for a value the
        option cannot hold: out of range, not a choice, not writable, leading out of the data dir."""
        info = self.data_labels.get(key)
        if info is None:
            raise KeyError(f"unknown option: {key}")
        if self.data.get(key, info.default) == value or info.do_not_save:
            return False
        if is_api and info.restrict_api:
            raise RuntimeError(f"option {key} cannot be changed through the API")
        self.check_changeable(key)
        if not self.same_type(info.default, value):
            raise TypeError(f"bad value for option {key}: {value!r} is {type(value).__name__}, "
                            f"expected {type(info.default).__name__}")
        option_values.check(key, info, value, paths_internal.data_path)
        return True

    def check_changeable(self, key):
        """Raises RuntimeError naming why the option may not change (frozen settings, --hide-ui-dir-config)."""
        info = self.data_labels[key]
        cmd_opts = shared_cmd_options.cmd_opts
        if cmd_opts.freeze_settings:
            raise RuntimeError(f"cannot change option {key}: settings are frozen (--freeze-settings)")
        if info.section and info.section[0] in _comma_list(cmd_opts.freeze_settings_in_sections):
            raise RuntimeError(f"cannot change option {key}: its section {info.section[0]} is frozen")
        if key in _comma_list(cmd_opts.freeze_specific_settings):
            raise RuntimeError(f"cannot change option {key}: it is frozen (--freeze-specific-settings)")
        if cmd_opts.hide_ui_dir_config and key in self.restricted_opts:
            raise RuntimeError(f"cannot change option {key}: it is restricted (--hide-ui-dir-config)")

    def set(self, key, value, is_api=False, run_callbacks=True) -> bool:
        """Sets an option (in the job's layer inside a job, else in the base) and runs its onchange callback; returns
        True when the value changed. Raises what check_value raises; a failing callback puts the old value back and
        propagates."""
        if not self.check_value(key, value, is_api):
            return False
        info = self.data_labels[key]
        data = self.data
        old_value = data.get(key, info.default)
        data[key] = value
        if run_callbacks and info.onchange is not None:
            try:
                info.onchange()
            except Exception:
                data[key] = old_value
                raise
        return True

    def get_default(self, key):
        info = self.data_labels.get(key)
        return None if info is None else info.default

    def save(self, filename):
        """Writes the base values (never a job's) as JSON atomically: a temporary file in the same folder replaces
        the old one."""
        self._write(filename, self.layers.base)

    def set_and_save(self, values: dict, filename: str, is_api: bool = False) -> None:
        """Sets values in the base, but only after the file holds the base with exactly these values changed (written
        even when none changes, as A1111 saves on every POST /options, unless settings are frozen); then runs their
        onchange callbacks (a model load may wait for the running generation; other saves need not). A failing
        callback puts back, in memory and in the file, each value of this call that no later save changed; what the
        callbacks did stays (the next job loads the model its options name). SettingsNotSaved: the file could not be
        written, and nothing changed."""
        changed, previous = contextvars.Context().run(self._save_changes, values, filename, is_api)
        try:
            contextvars.Context().run(self._run_callbacks, changed)
        except BaseException:
            self._put_back(changed, previous, filename)
            raise

    def rename_base_value(self, key, old_value, new_value) -> None:
        """The base value of `key` (in memory; saved with the next save) becomes new_value if it is old_value: what
        it names was renamed (a checkpoint whose title gained its hash)."""
        with self._save_lock:
            if self.layers.base.get(key) == old_value:
                self.layers.base[key] = new_value

    def _save_changes(self, values: dict, filename: str, is_api: bool) -> tuple[dict, dict]:
        with self._save_lock:
            base = self.layers.base
            changed = {key: value for key, value in values.items() if self.check_value(key, value, is_api)}
            if not changed and shared_cmd_options.cmd_opts.freeze_settings:
                return {}, {}
            previous = {key: base.get(key, _MISSING) for key in changed}
            self._write(filename, {**base, **changed})
            base.update(changed)
            return changed, previous

    def _run_callbacks(self, changed: dict) -> None:
        for key in changed:
            onchange = self.data_labels[key].onchange
            if onchange is not None:
                onchange()

    def _put_back(self, changed: dict, previous: dict, filename: str) -> None:
        with self._save_lock:
            base = self.layers.base
            for key, value in changed.items():
                if base.get(key, _MISSING) != value:
                    continue
                if previous[key] is _MISSING:
                    del base[key]
                else:
                    base[key] = previous[key]
            self._write(filename, base)

    def _write(self, filename, values: dict):
        if shared_cmd_options.cmd_opts.freeze_settings:
            raise RuntimeError("saving settings is disabled (--freeze-settings)")
        try:
            self._write_atomically(filename, values)
        except OSError as e:
            raise SettingsNotSaved(f"settings not saved to {filename}: {e.strerror or e}") from e

    @staticmethod
    def _write_atomically(filename, values: dict):
        folder = os.path.dirname(os.path.abspath(filename))
        os.makedirs(folder, exist_ok=True)
        fd, temp_path = tempfile.mkstemp(prefix=f".{os.path.basename(filename)}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf8") as file:
                json.dump(values, file, indent=4, ensure_ascii=False)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temp_path, os.stat(filename).st_mode & 0o777 if os.path.exists(filename) else 0o644)
            os.replace(temp_path, filename)
        except BaseException:
            if os.path.exists(temp_path):
                os.remove(temp_path)
            raise

    def load(self, filename):
        """Reads values from a JSON file; a missing file means defaults, an unreadable one is moved aside; temporary
        files a save interrupted (a crash, a full disk) left beside it are removed."""
        _remove_orphaned_temp_files(filename)
        try:
            with open(filename, encoding="utf8") as file:
                loaded = json.load(file)
            if not isinstance(loaded, dict):
                raise ValueError("the file does not hold a JSON object")
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError) as e:
            backup = _move_aside(filename)
            log.warning("Could not read settings from %s (%s); moved it to %s and reverted to defaults",
                        filename, e, backup)
            loaded = {}

        _migrate(loaded)
        values = self._defaults()
        for key, value in loaded.items():
            info = self.data_labels.get(key)
            if info is not None and not self.same_type(info.default, value):
                log.warning("Ignoring bad setting value in %s: %s: %r (%s; expected %s)", filename, key, value,
                            type(value).__name__, type(info.default).__name__)
                continue
            values[key] = value
        self.layers.base = values

    def onchange(self, key, func, call=True):
        self.data_labels[key].onchange = func
        if call:
            func()

    def dumpjson(self):
        """Values plus the settings page's annotations (comments, section/category headings), as the UI reads them."""
        result = {key: self.data.get(key, info.default) for key, info in self.data_labels.items()}
        result["_comments_before"] = {key: info.comment_before for key, info in self.data_labels.items()}
        result["_comments_after"] = {key: info.comment_after for key, info in self.data_labels.items()}

        first_section_of_category = {}
        for info in self.data_labels.values():
            if not info.section or info.section[0] is None:
                continue
            category = categories.mapping.get(info.category_id)
            label = category.label if category is not None else "Uncategorized"
            first_section_of_category.setdefault(label, info.section[1])
        result["_categories"] = [[section, label] for label, section in first_section_of_category.items()]
        result["_categories"].append(["Defaults", "Other"])
        return json.dumps(result)

    def add_option(self, key, info):
        self.data_labels[key] = info
        for values in (self.layers.base, self.data):
            if key not in values and not info.do_not_save:
                values[key] = copy.deepcopy(info.default)

    def reorder(self):
        """Sorts data_labels so that a section's options stay together, sections of one category stay together
        (categories in registration order, sections alphabetically within one), and every option of a section
        shares the category of the section's first option."""
        section_category = {}
        for info in self.data_labels.values():
            section_category.setdefault(info.section, info.category_id)
        for info in self.data_labels.values():
            info.category_id = section_category[info.section]

        category_order = {category_id: index for index, category_id in enumerate(categories.mapping)}

        def sort_key(item):
            info = item[1]
            section_label = info.section[1] if info.section and info.section[1] else ""
            return category_order.get(info.category_id, len(category_order)), section_label

        self.data_labels = dict(sorted(self.data_labels.items(), key=sort_key))

    def same_type(self, x, y):
        if x is None or y is None:
            return True
        return self.typemap.get(type(x), type(x)) == self.typemap.get(type(y), type(y))

    def cast_value(self, key, value):
        """Converts value (e.g. a string from a form or infotext) to the type of the option: cast_value("steps", "12")
        -> 12. None when the option's type is unknown."""
        if value is None:
            return None
        reference = self.data_labels[key].default
        if reference is None:
            reference = getattr(self, key, None)
        if reference is None:
            return None
        expected_type = type(reference)
        if expected_type is bool and value in ("True", "False"):
            return value == "True"
        return expected_type(value)


def _remove_orphaned_temp_files(filename: str) -> None:
    folder, name = os.path.split(os.path.abspath(filename))
    prefix = f".{name}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for orphan in (entry for entry in names if entry.startswith(prefix) and entry.endswith(".tmp")):
        try:
            os.remove(os.path.join(folder, orphan))
            log.info("Removed %s, left by an interrupted settings save", orphan)
        except OSError as e:
            log.warning("Could not remove %s: %s", orphan, e)


def _move_aside(filename: str) -> str | None:
    stem, extension = os.path.splitext(filename)
    timestamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = f"{stem}.corrupt-{timestamp}{extension or '.json'}"
    try:
        os.replace(filename, backup)
    except OSError as e:
        log.warning("Could not move %s aside: %s", filename, e)
        return None
    return backup


def _migrate(data: dict):
    """Converts keys written by older A1111 versions."""
    if data.get("sd_vae_as_default") is not None and data.get("sd_vae_overrides_per_model_preferences") is None:
        data["sd_vae_overrides_per_model_preferences"] = not data["sd_vae_as_default"]
    if isinstance(data.get("quicksettings"), str) and data.get("quicksettings_list") is None:
        data["quicksettings_list"] = [name.strip() for name in data["quicksettings"].split(",") if name.strip()]
    if isinstance(data.get("ui_reorder"), str) and data.get("ui_reorder") and "ui_reorder_list" not in data:
        data["ui_reorder_list"] = [name.strip() for name in data["ui_reorder"].split(",") if name.strip()]
