"""A1111's refiner: once refiner_switch_at of the sampling is done (by timestep, or by sampling steps with the option
refiner_switch_by_sample_steps), the generation goes on with the refiner checkpoint: loaded without becoming the
selected one, the prompts encoded again by it, and its VAE decoding the result. With hires fix, the option
hires_fix_refiner_pass says in which pass."""

from modules import devices, extra_networks, lowvram, safe, sd_models, shared
from modules.opts_snapshot import options_for

NO_REFINER = (None, "", "None", "none")
FIELD = "refiner_checkpoint"


class RefinerError(Exception):
    """A refiner the request names that is not there (404) or does not load (422)."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(f"{FIELD}: {detail}")
        self.status_code, self.field, self.detail = status_code, FIELD, detail


def checkpoint_info(name: str | None) -> sd_models.CheckpointInfo | None:
    """The refiner a request names; None for none."""
    if name in NO_REFINER:
        return None
    info = sd_models.get_closet_checkpoint_match(name)
    if info is None:
        raise RefinerError(404, f"checkpoint not found: {name!r} (see /sdapi/v1/sd-models)")
    return info


def completed_ratio(timestep, step: int, steps: int, by_steps: bool) -> float:
    """How much of the sampling is done: by steps, or as A1111 counts it by the model's timestep (999 at the start)."""
    if by_steps:
        return step / steps
    return (999 - int(round(float(timestep)))) / 1000


def _in_this_pass(p, pass_option: str) -> bool:
    if not getattr(p, "enable_hr", False):
        return True
    second_pass = getattr(p, "is_hr_pass", False)
    return {"first pass": not second_pass, "second pass": second_pass}.get(pass_option, True)


def name_with_hash(p, stop) -> None:
    """The infotext's "Refiner" names the refiner with its short hash once that is known (a checkpoint loaded for
    the first time is hashed while it samples); `stop()` true: as it is."""
    info = getattr(p, "refiner_checkpoint_info", None)
    if info is not None and "Refiner" in p.extra_generation_params and info.wait_for_hash(stop) is not None:
        p.extra_generation_params["Refiner"] = info.short_title


def switch_if_due(p, sampler, timestep, step: int, steps: int) -> bool:
    """Before a sampling step: switches p (and its sampler) to the refiner when it is due, and makes the pass's
    conditioning again with it (p.get_conds()); True when it did."""
    info = getattr(p, "refiner_checkpoint_info", None)
    if info is None or p.sd_model.sd_checkpoint_info.filename == info.filename:
        return False
    options = options_for(p)
    by_steps = bool(options.refiner_switch_by_sample_steps) or timestep is None
    if p.refiner_switch_at is not None and completed_ratio(timestep, step, steps, by_steps) < p.refiner_switch_at:
        return False
    if not _in_this_pass(p, options.hires_fix_refiner_pass):
        return False
    if getattr(p, "enable_hr", False) and options.hires_fix_refiner_pass != "second pass":
        p.extra_generation_params["Hires refiner"] = options.hires_fix_refiner_pass
    if by_steps:
        p.extra_generation_params["Refiner switch by sampling steps"] = True
    p.extra_generation_params["Refiner"] = info.short_title
    p.extra_generation_params["Refiner switch at"] = p.refiner_switch_at
    _let_go(p, sampler)
    try:
        model = sd_models.reload_model_weights(info=info, select=False)
    except safe.CheckpointLoadError as e:
        p.sd_model = sampler.model = shared.sd_model  # the job's own, loaded again
        raise RefinerError(422, f"the refiner did not load: {e}") from e
    _go_on_with(p, model)
    sampler.model = model
    second_pass = getattr(p, "is_hr_pass", False)
    if not p.disable_extra_networks:  # the prompt's networks on the refiner too, as A1111 applies them to any model
        with devices.autocast():
            extra_networks.activate(p, p.hr_extra_network_data if second_pass else p.extra_network_data)
    if second_pass:
        p.calculate_hr_conds()
    else:
        p.setup_conds()
    return True


def back_to(p, base: sd_models.CheckpointInfo) -> None:
    """Before a batch: the job's own checkpoint again when the refiner took over in the batch before (A1111 reloads
    it there too)."""
    if p.sd_model.sd_checkpoint_info.filename != base.filename:
        _let_go(p, getattr(p, "sampler", None))
        _go_on_with(p, sd_models.reload_model_weights(info=base, select=False))


def _let_go(p, sampler) -> None:
    """The job lets go of the model it leaves, so that it is freed before the next one loads (not both in memory)."""
    p.sd_model = None
    if sampler is not None:
        sampler.model = None


def _go_on_with(p, model) -> None:
    """The generation goes on with model: its tiling, and who decodes the preview (the sampler, when offloaded)."""
    model.set_tiling(bool(p.tiling))
    p.sd_model = model
    shared.state.previews_from_sampler = lowvram.is_enabled(model)
