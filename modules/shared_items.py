"""Lists extensions read through shared (A1111's shared_items names): checkpoints, samplers, VAEs, infotext names."""


def list_checkpoint_tiles(use_short: bool = False) -> list[str]:
    from modules import sd_models

    return sd_models.checkpoint_tiles(use_short)


def refresh_checkpoints() -> None:
    from modules import sd_models

    sd_models.list_models()


def list_samplers() -> list:
    from modules import sd_samplers

    return sd_samplers.all_samplers


def sd_vae_items() -> list[str]:
    from modules import sd_vae

    return ["Automatic", "None", *sd_vae.vae_dict]


def refresh_vae_list() -> None:
    from modules import sd_vae

    sd_vae.refresh_vae_list()


def get_infotext_names() -> list[str]:
    """The infotext names of the options that write one ("Clip skip", "ENSD", ...)."""
    from modules import shared

    return [info.infotext for info in shared.opts.data_labels.values() if info.infotext]
