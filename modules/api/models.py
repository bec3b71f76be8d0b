"""Request and response models of the REST API (A1111's field names, defaults and shapes).

Unknown request fields are ignored, not rejected: old clients send fields that no longer exist."""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from modules import shared
from modules.image_size import MAX_SIZE, MIN_SIZE

LATENT_MULTIPLE = 8
MAX_SEED = 2**63 - 1
MAX_PROMPT_LENGTH = 32_768
"""characters in one prompt field: far beyond what CLIP reads (75 tokens a chunk), short enough to parse at once"""
PROMPT_DESCRIPTION = f"At most {MAX_PROMPT_LENGTH} characters."
SIZE_DESCRIPTION = ("{axis} of the image in pixels, {low}..{high}. A value that is not a multiple of 8 is rounded down to "
                    "one, as the latent is 1/8 of the image size.")


def _size_field(axis: str) -> Any:
    return Field(default=512, ge=MIN_SIZE, le=MAX_SIZE,
                 description=SIZE_DESCRIPTION.format(axis=axis, low=MIN_SIZE, high=MAX_SIZE))


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_in(value, name: str) -> str | None:
    """The name (with [index] / .key) of the first text in value holding a lone UTF-16 surrogate, else None."""
    if isinstance(value, str):
        return name if LONE_SURROGATE.search(value) else None
    items = enumerate(value) if isinstance(value, list | tuple) else value.items() if isinstance(value, dict) else ()
    for key, item in items:
        found = lone_surrogate_in(item, f"{name}[{key}]" if isinstance(key, int) else f"{name}.{key}")
        if found:
            return found
    return None


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, protected_namespaces=())

    @field_validator("*", mode="after")
    @classmethod
    def _text_is_text(cls, value, info: ValidationInfo):
        """A lone surrogate (JSON's "\\ud800" alone) is not text: it cannot be saved, hashed or written to a PNG."""
        found = lone_surrogate_in(value, info.field_name)
        if found:
            raise ValueError(f"{found} holds a lone UTF-16 surrogate, which is not text")
        return value


class GenerationRequest(RequestModel):
    """Fields shared by txt2img and img2img (A1111's StableDiffusionProcessing plus the API's own)."""

    prompt: str = Field(default="", max_length=MAX_PROMPT_LENGTH, description=PROMPT_DESCRIPTION)
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT_LENGTH, description=PROMPT_DESCRIPTION)
    styles: list[str] | None = Field(default=[], description="Names of prompt styles to apply.")
    seed: int = Field(default=-1, ge=-1, le=MAX_SEED, description="-1 picks a random seed.")
    subseed: int = Field(default=-1, ge=-1, le=MAX_SEED, description="Variation seed; -1 picks a random one.")
    subseed_strength: float = Field(default=0, ge=0, le=1)
    seed_resize_from_h: int = Field(default=-1, ge=-1, le=8192)
    seed_resize_from_w: int = Field(default=-1, ge=-1, le=8192)
    sampler_name: str | None = Field(default=None, description='A sampler name or alias; "DPM++ 2M Karras" style '
                                                               'names also set the schedule type.')
    scheduler: str | None = Field(default=None, description="Schedule type name or label (see /sdapi/v1/schedulers).")
    batch_size: int = Field(default=1, ge=1, le=8)
    n_iter: int = Field(default=1, ge=1, le=100, description="Number of batches.")
    steps: int = Field(default=50, ge=1, le=150)
    cfg_scale: float = Field(default=7.0, ge=0, le=30)
    width: int = _size_field("Width")
    height: int = _size_field("Height")
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: float | None = Field(default=None, ge=0)
    denoising_strength: float | None = Field(default=None, ge=0, le=1)
    s_min_uncond: float | None = Field(default=None, ge=0)
    s_churn: float | None = Field(default=None, ge=0)
    s_tmax: float | None = Field(default=None, ge=0)
    s_tmin: float | None = Field(default=None, ge=0)
    s_noise: float | None = Field(default=None, ge=0)
    override_settings: dict[str, Any] | None = Field(default={}, description="Options used for this request only.")
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = Field(default=None, ge=0, le=1)
    disable_extra_networks: bool = False
    firstpass_image: str | None = Field(default=None, description="Base64 image used instead of the first pass.")
    comments: dict[str, Any] | None = None
    sampler_index: str = Field(default="Euler", description="Legacy alias of sampler_name, used when that is unset.")
    script_name: str | None = None
    script_args: list = []
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = {}
    force_task_id: str | None = Field(default=None, description="Task id reported by /internal/progress.")
    infotext: str | None = Field(default=None, description="Infotext whose values fill the fields not sent.")

    @field_validator("width", "height")
    @classmethod
    def round_down_to_latent_multiple(cls, value: int) -> int:
        return value - value % LATENT_MULTIPLE


class StableDiffusionTxt2ImgProcessingAPI(GenerationRequest):
    enable_hr: bool = False
    firstphase_width: int = Field(default=0, ge=0, description="Legacy; ignored.")
    firstphase_height: int = Field(default=0, ge=0, description="Legacy; ignored.")
    hr_scale: float = Field(default=2.0, ge=1, le=4)
    hr_upscaler: str | None = Field(default=None, description="A latent upscale mode or an upscaler name.")
    hr_second_pass_steps: int = Field(default=0, ge=0, le=150, description="0 uses the first pass's steps.")
    hr_resize_x: int = Field(default=0, ge=0, le=8192)
    hr_resize_y: int = Field(default=0, ge=0, le=8192)
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = Field(default="", max_length=MAX_PROMPT_LENGTH, description=PROMPT_DESCRIPTION)
    hr_negative_prompt: str = Field(default="", max_length=MAX_PROMPT_LENGTH, description=PROMPT_DESCRIPTION)


class StableDiffusionImg2ImgProcessingAPI(GenerationRequest):
    init_images: list[str] | None = Field(default=None, description="Base64 images, with or without a data: prefix.")
    resize_mode: int = Field(default=0, ge=0, le=3, description="0 just resize, 1 crop and resize, 2 resize and fill, "
                                                                "3 latent upscale.")
    denoising_strength: float = Field(default=0.75, ge=0, le=1)
    image_cfg_scale: float | None = Field(default=None, ge=0, le=30)
    mask: str | None = Field(default=None, description="Base64 mask: white is repainted.")
    mask_blur_x: int = Field(default=4, ge=0, le=256)
    mask_blur_y: int = Field(default=4, ge=0, le=256)
    mask_blur: int | None = Field(default=None, ge=0, le=256, description="Sets both mask_blur_x and mask_blur_y.")
    mask_round: bool = True
    inpainting_fill: int = Field(default=0, ge=0, le=3, description="0 fill, 1 original, 2 latent noise, "
                                                                    "3 latent nothing.")
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = Field(default=0, ge=0, le=1024)
    inpainting_mask_invert: int = Field(default=0, ge=0, le=1)
    initial_noise_multiplier: float | None = Field(default=None, ge=0, le=2)
    latent_mask: str | None = None
    include_init_images: bool = False


class TextToImageResponse(BaseModel):
    images: list[str] | None = Field(default=None, description="The generated images in base64 format.")
    parameters: dict
    info: str


class ImageToImageResponse(TextToImageResponse):
    pass


class ExtrasBaseRequest(RequestModel):
    resize_mode: Literal[0, 1] = Field(default=0, description="0 scales by upscaling_resize, 1 scales to "
                                                              "upscaling_resize_w x upscaling_resize_h.")
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(default=0, ge=0, le=1)
    codeformer_visibility: float = Field(default=0, ge=0, le=1)
    codeformer_weight: float = Field(default=0, ge=0, le=1)
    upscaling_resize: float = Field(default=2, gt=0, le=8)
    upscaling_resize_w: int = Field(default=512, ge=1, le=8192)
    upscaling_resize_h: int = Field(default=512, ge=1, le=8192)
    upscaling_crop: bool = True
    upscaler_1: str | None = "None"
    upscaler_2: str | None = "None"
    extras_upscaler_2_visibility: float = Field(default=0, ge=0, le=1)
    upscale_first: bool = False


class ExtrasSingleImageRequest(ExtrasBaseRequest):
    image: str = Field(default="", description="Base64 image to work on.")


class FileData(BaseModel):
    data: str = Field(description="Base64 representation of the file")
    name: str


class ExtrasBatchImagesRequest(ExtrasBaseRequest):
    imageList: list[FileData] = Field(description="Images to work on.")  # noqa: N815 (A1111's name)


class ExtrasSingleImageResponse(BaseModel):
    html_info: str
    image: str | None = None


class ExtrasBatchImagesResponse(BaseModel):
    html_info: str
    images: list[str]


class PNGInfoRequest(RequestModel):
    image: str = Field(description="Base64 image")


class PNGInfoResponse(BaseModel):
    info: str = Field(description="The infotext the image carries")
    items: dict = Field(description="The image's other metadata fields")
    parameters: dict = Field(description="The infotext parsed into fields")


class ProgressResponse(BaseModel):
    progress: float = Field(description="0..1")
    eta_relative: float = Field(description="Seconds left")
    state: dict
    current_image: str | None = None
    textinfo: str | None = None


class InternalProgressRequest(RequestModel):
    id_task: str | None = None
    id_live_preview: int = -1
    live_preview: bool = True


class InternalProgressResponse(BaseModel):
    active: bool
    queued: bool
    completed: bool
    progress: float | None = None
    eta: float | None = None
    live_preview: str | None = None
    id_live_preview: int | None = None
    textinfo: str | None = None


class SamplerItem(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class SchedulerItem(BaseModel):
    name: str
    label: str
    aliases: list[str] | None
    default_rho: float | None
    need_inner_model: bool | None


class UpscalerItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    model_name: str | None
    model_path: str | None
    model_url: str | None
    scale: float | None


class LatentUpscalerModeItem(BaseModel):
    name: str


class SDModelItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    title: str
    model_name: str
    hash: str | None
    sha256: str | None
    filename: str
    config: str | None


class SDVaeItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    filename: str


class HypernetworkItem(BaseModel):
    name: str
    path: str | None


class RealesrganItem(BaseModel):
    name: str
    path: str | None
    scale: int | None


class InterrogateRequest(RequestModel):
    image: str = Field(default="", description="Base64 image (or data: URI) to caption.")
    model: str = Field(default="clip", description="clip or deepdanbooru")


class FaceRestorerItem(BaseModel):
    name: str
    cmd_dir: str | None


class PromptStyleItem(BaseModel):
    name: str
    prompt: str | None
    negative_prompt: str | None


class EmbeddingItem(BaseModel):
    step: int | None
    sd_checkpoint: str | None
    sd_checkpoint_name: str | None
    shape: int
    vectors: int


class EmbeddingsResponse(BaseModel):
    loaded: dict[str, EmbeddingItem]
    skipped: dict[str, EmbeddingItem]


class MemoryResponse(BaseModel):
    ram: dict = Field(description="System memory: free, used (by this process), total")
    cuda: dict = Field(description="CUDA memory statistics, or {error}")


class ScriptsList(BaseModel):
    txt2img: list | None = None
    img2img: list | None = None


class ScriptArg(BaseModel):
    label: str | None = None
    value: Any | None = None
    minimum: Any | None = None
    maximum: Any | None = None
    step: Any | None = None
    choices: list[str] | None = None


class ScriptInfo(BaseModel):
    name: str | None = None
    is_alwayson: bool | None = None
    is_img2img: bool | None = None
    args: list[ScriptArg]


class ExtensionItem(BaseModel):
    name: str
    remote: str
    branch: str
    commit_hash: str
    version: str
    commit_date: str
    enabled: bool


def _option_field(info) -> tuple[Any, Any]:
    default = info.default
    value_type = shared.opts.typemap.get(type(default), type(default)) if default else Any
    return value_type | None, Field(default=default, description=info.label or None)


def make_options_model() -> type[BaseModel]:
    """One field per setting, so that /docs lists them; built from opts.data_labels when called."""
    fields = {key: _option_field(info) for key, info in shared.opts.data_labels.items() if not info.do_not_save}
    return create_model("Options", __config__=ConfigDict(protected_namespaces=()), **fields)


OptionsModel = make_options_model()
