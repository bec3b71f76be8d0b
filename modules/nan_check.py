"""A1111's NaN check: a NaN or an infinity in what the UNet sampled or the VAE decoded is an error that names the
cure, unless --disable-nan-check; a 16-bit VAE that overflows is converted to 32-bit floats and decodes again
(option auto_vae_precision), saying so in the console."""

import logging

import torch

log = logging.getLogger(__name__)
VAE_RETRY_MESSAGE = ("A tensor with NaNs was produced in VAE.\n"
                     "Web UI will now convert VAE into 32-bit float and retry.\n"
                     "To disable this behavior, disable the 'Automatically revert VAE to 32-bit floats' setting.\n"
                     "To always start with 32-bit VAE, use --no-half-vae commandline flag.")


class NansException(Exception):
    """What the UNet or the VAE produced holds NaN or infinite values (an image would be black or noise)."""


def has_non_finite(x: torch.Tensor) -> bool:
    return not bool(torch.isfinite(x).all())


def nan_message(where: str, cmd_opts) -> str:
    if where == "unet":
        message = "A tensor with NaNs was produced in Unet."
        if not cmd_opts.no_half:
            message += (" This could be either because there's not enough precision to represent the picture, or "
                        "because your video card does not support half type. Try setting the \"Upcast cross "
                        "attention layer to float32\" option in Settings > Stable Diffusion or using the --no-half "
                        "commandline argument to fix this.")
    elif where == "vae":
        message = "A tensor with NaNs was produced in VAE."
        if not cmd_opts.no_half and not cmd_opts.no_half_vae:
            message += (" This could be because there's not enough precision to represent the picture. Try adding "
                        "--no-half-vae commandline argument to fix this.")
    else:
        message = "A tensor with NaNs was produced."
    return message + " Use --disable-nan-check commandline argument to disable this check."


def test_for_nans(x: torch.Tensor, where: str, cmd_opts) -> None:
    """Raises NansException naming `where` ("unet", "vae") when x holds NaN or inf, unless --disable-nan-check."""
    if cmd_opts.disable_nan_check or not has_non_finite(x):
        return
    raise NansException(nan_message(where, cmd_opts))


def revert_vae_to_fp32(model) -> None:
    """The model's VAE, and the checkpoint's own (so a VAE file loaded later), in 32-bit floats from now on."""
    for vae in {id(model.vae): model.vae, id(model.base_vae): model.base_vae}.values():
        vae.to(torch.float32)


def decode_checked(model, latents: torch.Tensor, retry_in_fp32: bool, cmd_opts) -> torch.Tensor:
    """model.decode_first_stage(latents), checked for NaNs; a 16-bit VAE that produced them is reverted to 32-bit
    floats and decodes again when retry_in_fp32 (option auto_vae_precision)."""
    decoded = model.decode_first_stage(latents)
    if cmd_opts.disable_nan_check or not has_non_finite(decoded):
        return decoded
    if model.vae.dtype == torch.float32 or not retry_in_fp32:
        raise NansException(nan_message("vae", cmd_opts))
    print(VAE_RETRY_MESSAGE)
    log.warning("VAE produced NaNs in %s; reverted to float32", model.vae.dtype)
    revert_vae_to_fp32(model)
    decoded = model.decode_first_stage(latents)
    test_for_nans(decoded, "vae", cmd_opts)
    return decoded
