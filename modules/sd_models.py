"""Checkpoint discovery, titles and hashes, loading and switching (A1111's sd_models names)."""

import concurrent.futures
import glob
import hashlib
import logging
import os
import re
import threading
import time

import safetensors
import safetensors.torch

from modules import devices, hashes, lowvram, paths_internal, safe, sd_models_metadata, shared, unet_compile
from modules.sd_model_diffusers import DiffusersStableDiffusion, config_dir_for
from modules.sd_models_detect import detect_architecture

model_dir = "Stable-diffusion"
checkpoint_extensions = (".safetensors", ".ckpt")
checkpoints_list: dict[str, "CheckpointInfo"] = {}
checkpoint_aliases: dict[str, "CheckpointInfo"] = {}
skipped_checkpoints: dict[str, str] = {}
"""file -> why it is not listed (unreadable, truncated): list_models skips such a file and goes on"""
model_lock = threading.RLock()
_titles_lock = threading.RLock()
"""held while the checkpoint list, its aliases or the selected title change (a listing, a load selecting its
checkpoint, a hash that ends in the background) and while they are read"""
log = logging.getLogger(__name__)
_EAGER_HASH_LIMIT = 1024**3
_hashes_in_progress: dict[str, concurrent.futures.Future] = {}
"""file -> its sha256 computed in the background (the latest; a done one holds the hash it found, or None)"""


class CheckpointInfo:
    """One checkpoint file: A1111's `title` is "name [shorthash]" once the sha256 is known."""

    def __init__(self, filename: str, root: str | None = None):
        self.filename = os.path.abspath(filename)
        root = root or os.path.dirname(self.filename)
        name = os.path.relpath(self.filename, root) if self.filename.startswith(os.path.abspath(root)) else \
            os.path.basename(self.filename)
        self.name = name.replace("\\", "/")
        self.name_for_extra = os.path.splitext(os.path.basename(self.filename))[0]
        self.model_name = os.path.splitext(self.name.replace("/", "_"))[0]
        self.hash = None
        self.sha256 = hashes.sha256_from_cache(self.filename)
        if self.sha256 is None and os.path.getsize(self.filename) <= _EAGER_HASH_LIMIT:
            self.sha256 = hashes.sha256(self.filename)
        self.metadata = read_metadata(self.filename)

    @property
    def shorthash(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    @property
    def title(self) -> str:
        return f"{self.name} [{self.shorthash}]" if self.shorthash else self.name

    @property
    def short_title(self) -> str:
        return f"{self.name_for_extra} [{self.shorthash}]" if self.shorthash else self.name_for_extra

    @property
    def ids(self) -> list[str]:
        ids = [self.model_name, self.name, self.name_for_extra, self.title]
        if self.shorthash:
            ids += [self.shorthash, self.sha256, f"{self.name} [{self.shorthash}]"]
        return ids

    @property
    def native_resolution(self) -> tuple[int, int] | None:
        """(width, height) the checkpoint states it was trained at, else None."""
        return sd_models_metadata.native_resolution(self.filename, self.metadata)

    @property
    def example_prompt(self) -> str | None:
        return sd_models_metadata.example_prompt(self.filename, self.metadata)

    def calculate_shorthash(self) -> str | None:
        self._set_sha256(hashes.sha256(self.filename))
        return self.shorthash

    def hash_in_background(self) -> concurrent.futures.Future:
        """Starts computing the file's sha256 on a thread of its own (one at a time per file), unless the hash is
        known and the file unchanged since; the title becomes "name [shorthash]" when it ends. A file that cannot be
        hashed is logged and has no hash (nor "[hash]" in its title)."""
        with _titles_lock:
            future = _hashes_in_progress.get(self.filename)
            if future is not None and not future.done():
                return future
            future = _hashes_in_progress[self.filename] = concurrent.futures.Future()
            if self.sha256 is not None and hashes.sha256_from_cache(self.filename) == self.sha256:
                future.set_result(self.sha256)
                return future
            try:
                threading.Thread(target=self._hash_into, args=(future,), name="checkpoint-hash", daemon=True).start()
            except RuntimeError as error:  # no thread to be had: the load goes on without a hash
                log.warning("Could not start hashing %s: %s", self.filename, error)
                future.set_result(None)
            return future

    def _hash_into(self, future: concurrent.futures.Future) -> None:
        try:
            _yield_cpu_to_other_threads()
            self.calculate_shorthash()
        except Exception as error:
            log.warning("Could not compute the sha256 of %s: %s", self.filename, safe.reason(error))
            self._set_sha256(None)  # a hash known before was of the file as it was
        finally:
            future.set_result(self.sha256)

    def wait_for_hash(self, stop=None) -> str | None:
        """The short hash, once a background hash of the file has ended; None at once when `stop()` becomes true
        while waiting (an interrupted generation)."""
        future = _hashes_in_progress.get(self.filename)
        if future is not None:
            while True:
                try:
                    sha256 = future.result(timeout=None if stop is None else 0.1)
                    break
                except concurrent.futures.TimeoutError:
                    if stop():
                        return None
            if sha256 is not None:
                self.sha256 = sha256  # an entry other than the one hashed (a copy, an older listing)
        return self.shorthash

    def known_shorthash(self) -> str | None:
        """The short hash without waiting: None while the file is being hashed (wait_for_hash gives it then)."""
        future = _hashes_in_progress.get(self.filename)
        return None if future is not None and not future.done() else self.wait_for_hash()

    def _set_sha256(self, sha256: str | None) -> None:
        """A1111's retitling: the list (in place, its order kept), the aliases and the selected checkpoint go from
        the old title to the new one, for this entry and the listed entries of the same file."""
        with _titles_lock:
            entries = [self, *(info for info in checkpoints_list.values()
                               if info.filename == self.filename and info is not self)]
            renamed = {}
            for info in entries:
                old_title = info.title
                info.sha256 = sha256
                if info.title != old_title:
                    renamed[old_title] = info.title
            if not renamed:
                return
            _replace(checkpoints_list, _titles_and_aliases(checkpoints_list.values())[0])
            checkpoint_aliases.update(_titles_and_aliases(entries)[1])  # the listed entries last: the aliases name them
        for old_title, new_title in renamed.items():
            shared.opts.rename_base_value("sd_model_checkpoint", old_title, new_title)

    def register(self) -> None:
        titles, aliases = _titles_and_aliases([self])
        checkpoints_list.update(titles)
        checkpoint_aliases.update(aliases)


def _titles_and_aliases(infos) -> tuple[dict, dict]:
    """The list's entries (title -> info) and the aliases of infos, in their order (a later one wins a shared key)."""
    infos = list(infos)
    return {info.title: info for info in infos}, {alias: info for info in infos for alias in info.ids}


def _replace(names: dict, values: dict) -> None:
    """In place, as A1111 changes its lists: a module that imported the dict keeps seeing it."""
    names.clear()
    names.update(values)


def title_without_hash(title: str) -> str:
    """The title without its "[hash]" (to match a title written with another hash, or none)."""
    return re.sub(r"\s*\[[^]]*]\s*$", "", title)


def _yield_cpu_to_other_threads() -> None:
    """Lowest CPU priority for the calling thread (Linux: a thread's nice value is its own), so that a background
    hash does not slow the load and sampling it runs beside; elsewhere it runs at normal priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def model_hash(filename: str) -> str:
    """A1111's old 8-character checkpoint hash: sha256 of the 64 KiB at offset 1 MiB ("NOFILE" when missing)."""
    try:
        with open(filename, "rb") as file:
            file.seek(0x100000)
            return hashlib.sha256(file.read(0x10000)).hexdigest()[:8]
    except FileNotFoundError:
        return "NOFILE"


class SdModelData:
    """A1111's sd_models.model_data: the loaded model (shared.sd_model), loaded on first use."""

    @property
    def sd_model(self):
        return shared.sd_model

    @property
    def loaded_sd_models(self) -> list:
        return [shared.sd_model] if shared.sd_model is not None else []

    def get_sd_model(self):
        return get_sd_model()

    def set_sd_model(self, model) -> None:
        shared.sd_model = model


model_data = SdModelData()


def read_metadata(filename: str) -> dict:
    if not filename.endswith(".safetensors"):
        return {}
    with safetensors.safe_open(filename, framework="pt") as file:
        return dict(file.metadata() or {})


def read_state_dict(filename: str, device="cpu") -> tuple[dict, dict]:
    """(state dict, metadata); a .safetensors file's tensors straight onto `device`; .ckpt goes through the
    restricted unpickler only, onto the CPU."""
    if filename.endswith(".safetensors"):
        return safetensors.torch.load_file(filename, device=str(device)), read_metadata(filename)
    loaded = safe.load(filename)
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise safe.CheckpointLoadError(f"{filename}: the pickle holds no state dict")
    return loaded, {}


def checkpoint_search_dirs() -> list[str]:
    dirs = [os.path.join(paths_internal.models_path, model_dir)]
    ckpt_dir = getattr(shared.cmd_opts, "ckpt_dir", None)
    if ckpt_dir:
        dirs.append(ckpt_dir)
    embedded = os.path.join(paths_internal.embedded_models_path, model_dir)
    if os.path.realpath(embedded) not in [os.path.realpath(d) for d in dirs]:
        dirs.append(embedded)
    return dirs


def _find_checkpoint_files(directory: str) -> list[str]:
    found = []
    for extension in checkpoint_extensions:
        found += glob.glob(os.path.join(directory, "**", f"*{extension}"), recursive=True)
    return sorted(f for f in found if not os.path.basename(os.path.dirname(f)).endswith(".config"))


def list_models() -> None:
    """Lists every checkpoint file found; one that cannot be read goes to skipped_checkpoints, with why. The lists
    are replaced, in place, once complete, under the lock their readers take: none sees them half made."""
    with _titles_lock:
        infos, skipped = [], {}
        explicit = getattr(shared.cmd_opts, "ckpt", None)
        found = [(explicit, None)] if explicit and os.path.isfile(explicit) else []
        found += [(filename, directory) for directory in checkpoint_search_dirs()
                  for filename in _find_checkpoint_files(directory)]
        for filename, directory in found:
            try:
                infos.append(CheckpointInfo(filename, directory))
            except Exception as error:  # a truncated or unreadable file must not hide the others, nor stop the server
                skipped[os.path.abspath(filename)] = safe.reason(error)
                log.warning("Skipped checkpoint %s: %s", filename, skipped[os.path.abspath(filename)])
        titles, aliases = _titles_and_aliases(infos)
        for names, values in ((checkpoints_list, titles), (checkpoint_aliases, aliases), (skipped_checkpoints, skipped)):
            _replace(names, values)


def listed_checkpoints() -> list[CheckpointInfo]:
    with _titles_lock:
        return list(checkpoints_list.values())


def checkpoint_tiles(use_short: bool = False) -> list[str]:
    return [info.short_title if use_short else info.title for info in listed_checkpoints()]


def get_closet_checkpoint_match(search: str | None) -> CheckpointInfo | None:
    """A1111's (misspelt) name: exact title/alias first, then the shortest title containing the text, then the
    shortest containing it without its [checksum] (a title from a machine that hashed the file)."""
    if not search:
        return None
    with _titles_lock:
        info = checkpoint_aliases.get(search)
        if info is not None:
            return info
        for text in dict.fromkeys((search, title_without_hash(search))):
            found = sorted((i for i in checkpoints_list.values() if text and text in i.title), key=lambda i: len(i.title))
            if found:
                return found[0]
    return None


def select_checkpoint() -> CheckpointInfo | None:
    """The checkpoint named by opts.sd_model_checkpoint, else the first one found; None when there is none."""
    with _titles_lock:
        info = get_closet_checkpoint_match(shared.opts.sd_model_checkpoint)
        return info if info is not None else next(iter(checkpoints_list.values()), None)


def selected_checkpoint_or_fail() -> CheckpointInfo:
    info = select_checkpoint()
    if info is None:
        raise safe.CheckpointLoadError(f"no checkpoint found: put a .safetensors file in {checkpoint_search_dirs()[0]}")
    return info


def load_model(checkpoint_info: CheckpointInfo | None = None, select: bool = True) -> DiffusersStableDiffusion:
    """select False: loaded without becoming the selected checkpoint (opts.sd_model_checkpoint; a refiner)."""
    with model_lock:
        checkpoint_info = checkpoint_info or selected_checkpoint_or_fail()
        started = time.perf_counter()
        unload_model_weights()
        checkpoint_info.hash_in_background()  # a generation's infotext waits for it, the load does not
        may_offload = lowvram.mode(shared.cmd_opts, is_sdxl=True) is not None  # the architecture is not known yet
        read_to = devices.cpu if may_offload else devices.state_dict_device(
            os.path.getsize(checkpoint_info.filename))
        state_dict, metadata = read_state_dict(checkpoint_info.filename, read_to)
        architecture = detect_architecture(state_dict, metadata, checkpoint_info.filename)
        offload = lowvram.mode(shared.cmd_opts, is_sdxl=architecture.family == "SDXL")
        model = DiffusersStableDiffusion(state_dict, architecture, config_dir_for(
            checkpoint_info.filename, architecture, metadata), devices.cpu if offload else devices.device,
            devices.dtype_unet, devices.dtype_vae)
        devices.apply_memory_format(model, shared.cmd_opts)
        if offload:
            lowvram.setup_for_low_vram(model, use_medvram=offload == "medvram", device=devices.device)
        del state_dict  # its tensors go now (no cycles hold them: no gc.collect, which costs ~0.2 s here)
        devices.torch_gc()
        if shared.cmd_opts.opt_compile and offload:
            print(f"--opt-compile is not used with --{offload}: the UNet runs uncompiled")
        elif shared.cmd_opts.opt_compile:
            model.unet_runner = unet_compile.CompiledUNet(model.unet, devices.device,
                                                          unet_compile.cache_dir(paths_internal.data_path), shared.state)
        model.sd_checkpoint_info = checkpoint_info
        model.sd_model_checkpoint = checkpoint_info.filename
        shared.sd_model = model
        with _titles_lock:
            checkpoint_info.register()
            if select:
                shared.opts.set("sd_model_checkpoint", checkpoint_info.title, run_callbacks=False)
        _apply_vae(model)
        load_embeddings(model)
        _notify_model_loaded(model)
        print(f"Model loaded in {time.perf_counter() - started:.1f}s ({checkpoint_info.title})")
        return model


def load_embeddings(model=None) -> None:
    """The textual inversion embeddings of the embeddings folder, read again for the model (those of another width
    are listed as skipped); the model's prompts use them by name."""
    from modules.sd_hijack import model_hijack

    model = model or shared.sd_model
    database = model_hijack.embedding_db
    database.folders = [shared.cmd_opts.embeddings_dir]
    if model is None:
        return
    database.load_textual_inversion_embeddings(model.tokenizer, model.embedding_widths())
    model.conditioner.embeddings = database
    if shared.opts.textual_inversion_print_at_load:
        print(f"Textual inversion embeddings loaded ({len(database.word_embeddings)}): "
              f"{', '.join(database.word_embeddings)}")
    if database.skipped_embeddings:
        print(f"Textual inversion embeddings skipped ({len(database.skipped_embeddings)}): "
              f"{', '.join(database.skipped_embeddings)}")


def _apply_vae(model) -> None:
    from modules import sd_vae

    sd_vae.reload_vae_weights(model)


def _notify_model_loaded(model) -> None:
    from modules import script_callbacks

    script_callbacks.model_loaded_callback(model)


def reload_model_weights(sd_model=None, info: CheckpointInfo | None = None, select: bool = True):
    """Loads `info` (or the selected checkpoint) unless it is the one already loaded; select False: without making it
    the selected checkpoint. A checkpoint that fails to load raises safe.CheckpointLoadError naming the file and why,
    with the model loaded before it loaded again."""
    with model_lock:
        checkpoint_info = info or selected_checkpoint_or_fail()
        current = shared.sd_model
        if current is not None and current.sd_checkpoint_info.filename == checkpoint_info.filename:
            return current
        previous = current.sd_checkpoint_info if current is not None else None
        del current  # load_model frees the old model before reading the new file; no reference may survive here
        try:
            return load_model(checkpoint_info, select=select)
        except Exception as error:
            failure = _load_failure(checkpoint_info, error)
            if previous is not None:
                _reload_previous(previous, failure)
            if failure is error:
                raise
            raise failure from error


def _load_failure(info: CheckpointInfo, error: Exception) -> safe.CheckpointLoadError:
    if isinstance(error, safe.CheckpointLoadError):
        return error
    return safe.CheckpointLoadError(f"{info.filename}: {safe.reason(error)}")


def _reload_previous(previous: CheckpointInfo, failure: safe.CheckpointLoadError) -> None:
    try:
        load_model(previous)
    except Exception as error:
        raise safe.CheckpointLoadError(f"{failure}; the model loaded before it did not load again either: "
                                       f"{_load_failure(previous, error)}") from failure


def unload_model_weights(sd_model=None, info=None) -> None:
    with model_lock:
        if shared.sd_model is not None:
            lowvram.send_everything_to_cpu(shared.sd_model)  # a job may still hold it (a refiner took over)
            shared.sd_model = None
            devices.release_memory()


def get_sd_model() -> DiffusersStableDiffusion:
    """The loaded model, loading the selected checkpoint on first use."""
    with model_lock:
        if shared.sd_model is None:
            load_model()
        return shared.sd_model
