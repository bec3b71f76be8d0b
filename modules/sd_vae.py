"""External VAE files in models/VAE (option sd_vae; "Automatic" and "None" = the checkpoint's own), or the one file
--vae-path names, which then takes the place of every VAE setting (A1111's rule)."""

import glob
import os

from modules import cmd_args, devices, hashes, paths_internal, shared

vae_extensions = cmd_args.VAE_FILE_EXTENSIONS
vae_dict: dict[str, str] = {}
CHECKPOINT_VAE = ("Automatic", "None", None, "")


def vae_search_dirs() -> list[str]:
    dirs = [os.path.join(paths_internal.models_path, "VAE")]
    vae_dir = getattr(shared.cmd_opts, "vae_dir", None)
    if vae_dir:
        dirs.append(vae_dir)
    return dirs


def refresh_vae_list() -> None:
    vae_dict.clear()
    for directory in vae_search_dirs():
        for extension in vae_extensions:
            for filename in sorted(glob.glob(os.path.join(directory, "**", f"*{extension}"), recursive=True)):
                vae_dict[os.path.basename(filename)] = os.path.abspath(filename)


def commandline_vae() -> str | None:
    """The file --vae-path names (absolute), None without the flag."""
    path = getattr(shared.cmd_opts, "vae_path", None)
    return os.path.abspath(path) if path else None


def resolve_vae(name: str | None) -> str | None:
    """The file for an sd_vae option value; None means the checkpoint's own VAE."""
    if name in CHECKPOINT_VAE:
        return None
    if name not in vae_dict:
        refresh_vae_list()
    if name not in vae_dict:
        raise FileNotFoundError(f"sd_vae: VAE not found: {name!r} (looked in {vae_search_dirs()})")
    return vae_dict[name]


def _vae_state_dict(filename: str) -> dict:
    from modules import sd_models

    state_dict, _ = sd_models.read_state_dict(filename)
    if any(key.startswith("first_stage_model.") for key in state_dict):
        return state_dict
    return {f"first_stage_model.{key}": value for key, value in state_dict.items()}


def reload_vae_weights(sd_model=None, vae_file: str | None = None) -> None:
    """Puts vae_file, else --vae-path's file, else the VAE chosen by opts.sd_vae on the model; the checkpoint's own
    when none is chosen."""
    from modules.sd_model_diffusers import load_vae

    sd_model = sd_model or shared.sd_model
    if sd_model is None:
        return
    vae_file = vae_file or commandline_vae() or resolve_vae(shared.opts.sd_vae)
    if vae_file == getattr(sd_model, "loaded_vae_file", None):
        return
    if vae_file is None:
        sd_model.vae = sd_model.base_vae
    else:
        vae = devices.apply_memory_format(load_vae(_vae_state_dict(vae_file), sd_model.config_dir,
                                                   sd_model.base_vae.dtype).eval(), shared.cmd_opts)
        if sd_model.offload is not None:
            sd_model.offload.add_vae(vae)
        else:
            vae.to(sd_model.device)
        sd_model.vae = vae
    sd_model.loaded_vae_file = vae_file


def loaded_vae_name(sd_model=None) -> str | None:
    vae_file = getattr(sd_model or shared.sd_model, "loaded_vae_file", None)
    return os.path.basename(vae_file) if vae_file else None


def loaded_vae_hash(sd_model=None) -> str | None:
    vae_file = getattr(sd_model or shared.sd_model, "loaded_vae_file", None)
    value = hashes.sha256(vae_file) if vae_file else None
    return value[:10] if value else None
