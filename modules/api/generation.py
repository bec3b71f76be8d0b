"""txt2img and img2img requests: checked at once (4xx naming the field), turned into a spec, run as a job."""

from modules import refiner, scripts, sd_samplers, sd_schedulers, shared, upscaler
from modules.api import models, settings
from modules.api.errors import api_error
from modules.api.images_io import decode_base64_to_image
from modules.jobs import builder, failures, script_values
from modules.jobs.queue import PRIORITY_INTERACTIVE, JobQueue, QueueError
from modules.jobs.spec import IMAGE_FIELDS, SCRIPT_FIELDS, GenerationSpec

SAME_SAMPLER = ("", "Use same sampler")
SAME_SCHEDULER = ("", "Use same scheduler")


def _sampler_names() -> str:
    return ", ".join(sd_samplers.visible_sampler_names())


def resolve_sampler(name: str | None, scheduler: str | None, name_field: str, scheduler_field: str) -> tuple[str, str]:
    """(sampler name, schedule label); 404 naming the field for an unknown sampler or schedule type."""
    base, _ = sd_samplers.split_sampler_name(name or "Euler a")
    if sd_samplers.find_sampler_config(base) is None:
        raise api_error(404, name_field, f"sampler not found: {name!r}; known samplers: {_sampler_names()}")
    if scheduler not in (None, "") and sd_schedulers.find_scheduler(scheduler) is None:
        labels = ", ".join(s.label for s in sd_schedulers.schedulers)
        raise api_error(404, scheduler_field, f"scheduler not found: {scheduler!r}; known schedule types: {labels}")
    try:
        return sd_samplers.get_sampler_and_scheduler(name, scheduler)
    except ValueError as e:
        raise api_error(422, scheduler_field, str(e)) from e


def main_sampler(req: models.GenerationRequest) -> tuple[str, str]:
    """sampler_name, else the legacy sampler_index (A1111 takes the first that is set)."""
    field = "sampler_name" if req.sampler_name else "sampler_index"
    return resolve_sampler(req.sampler_name or req.sampler_index, req.scheduler, field, "scheduler")


def check_scripts(req: models.GenerationRequest, mode: str) -> None:
    """script_name, script_args and alwayson_scripts fit the installed scripts of the tab (404/422 naming them)."""
    runner = scripts.runner_for(is_img2img=mode == "img2img")
    try:
        builder.script_args_for(runner, req.script_name, req.script_args, req.alwayson_scripts)
    except builder.ScriptArgumentError as e:
        raise api_error(e.status, e.field, e.message) from e


def check_hires(req: models.StableDiffusionTxt2ImgProcessingAPI, sampler_name: str, scheduler: str) -> None:
    """The second pass uses the first pass's sampler and schedule type unless told otherwise (as process_images)."""
    if not req.enable_hr:
        return
    if not upscaler.is_known(req.hr_upscaler):
        known = [*upscaler.latent_upscale_modes, *(u.name for u in shared.sd_upscalers)]
        raise api_error(404, "hr_upscaler", f"upscaler not found: {req.hr_upscaler!r}; known: {', '.join(known)}")
    hr_sampler = sampler_name if req.hr_sampler_name in (None, *SAME_SAMPLER) else req.hr_sampler_name
    hr_scheduler = scheduler if req.hr_scheduler in (None, *SAME_SCHEDULER) else req.hr_scheduler
    resolve_sampler(hr_sampler, hr_scheduler, "hr_sampler_name", "hr_scheduler")


def check_refiner(req: models.GenerationRequest) -> None:
    """refiner_checkpoint names a checkpoint (refiner_switch_at's 0..1 is the request model's)."""
    try:
        refiner.checkpoint_info(req.refiner_checkpoint)
    except refiner.RefinerError as e:
        raise api_error(e.status_code, e.field, e.detail) from e


def check_init_images(req: models.StableDiffusionImg2ImgProcessingAPI) -> None:
    count = len(req.init_images or [])
    if count == 0:
        raise api_error(422, "init_images", "at least one init image is required")
    if 1 < count and req.batch_size < count:
        raise api_error(422, "init_images", f"{count} images do not fit batch_size {req.batch_size}: send one image "
                                            "or at most batch_size images")


def _image_bytes(encoding: str | None, field: str) -> list[bytes]:
    return [script_values.png_bytes(decode_base64_to_image(encoding, field))] if encoding else []


def check_txt2img(req: models.StableDiffusionTxt2ImgProcessingAPI) -> GenerationSpec:
    """Checks the request (4xx naming the field) and returns it as a spec."""
    sampler_name, scheduler = main_sampler(req)
    check_hires(req, sampler_name, scheduler)
    check_refiner(req)
    settings.check_override_settings(req.override_settings)
    check_scripts(req, "txt2img")
    return spec_of(req, "txt2img", {"firstpass_image": _image_bytes(req.firstpass_image, "firstpass_image")})


def check_img2img(req: models.StableDiffusionImg2ImgProcessingAPI) -> GenerationSpec:
    """Checks the request and decodes its images (4xx naming the field); returns it as a spec."""
    check_init_images(req)
    main_sampler(req)
    check_refiner(req)
    settings.check_override_settings(req.override_settings)
    check_scripts(req, "img2img")
    images = {"init_images": [script_values.png_bytes(decode_base64_to_image(x, f"init_images[{i}]"))
                              for i, x in enumerate(req.init_images)]}
    for field in ("mask", "latent_mask", "firstpass_image"):
        images[field] = _image_bytes(getattr(req, field), field)
    return spec_of(req, "img2img", images)


def spec_of(req: models.GenerationRequest, mode: str, images: dict[str, list[bytes]]) -> GenerationSpec:
    params = req.model_dump(exclude={*IMAGE_FIELDS, *SCRIPT_FIELDS, "force_task_id"})
    return GenerationSpec(mode=mode, source="api", params=params, script_name=req.script_name,
                          script_args=list(req.script_args), alwayson_scripts=dict(req.alwayson_scripts or {}),
                          images={field: data for field, data in images.items() if data})


def api_error_of(error: BaseException, spec: GenerationSpec) -> BaseException:
    """The answer for a job that failed: its failure's status and field, or the error itself when it is ours (500)."""
    failure = failures.describe(error, spec)
    if failure.status >= 500 and failure.status != 503:
        return error
    return api_error(failure.status, failure.field, failure.message)


def generate(jobs: JobQueue, req: models.GenerationRequest, spec: GenerationSpec) -> dict:
    """Submits the spec at interactive priority under the request's force_task_id (else a new id) and waits for
    it; its result: {images (base64, when asked for), info, infotexts, saved_files}."""
    if jobs.paused:
        raise api_error(503, None, "the job queue is paused (POST /sdapi/v2/queue/resume)")
    try:
        job, _ = jobs.submit(spec, PRIORITY_INTERACTIVE, job_id=req.force_task_id, wait=True)
    except QueueError as e:
        raise api_error(e.status_code, "force_task_id" if e.field == "id" else e.field, e.message) from e
    outcome = jobs.wait(job.id)
    if outcome.error is not None:
        raise api_error_of(outcome.error, spec)
    return outcome.value
