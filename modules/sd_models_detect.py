"""Which Stable Diffusion layout a single-file checkpoint has, from its keys, shapes and metadata."""

import os
from dataclasses import dataclass

from modules import paths_internal

SD1_TEXT_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TEXT_KEY = "cond_stage_model.model.ln_final.weight"
SDXL_TEXT2_KEY = "conditioner.embedders.1.model.ln_final.weight"
SDXL_REFINER_TEXT_KEY = "conditioner.embedders.0.model.ln_final.weight"  # the refiner's one encoder, OpenCLIP bigG
UNET_INPUT_KEY = "model.diffusion_model.input_blocks.0.0.weight"


class UnknownModelLayout(ValueError):
    pass


@dataclass(frozen=True)
class ModelArchitecture:
    name: str
    family: str
    inpainting: bool = False
    prediction_type: str = "epsilon"
    refiner: bool = False

    @property
    def config_dir(self) -> str:
        return os.path.join(paths_internal.diffusers_configs_path, self.name)


SD15 = ModelArchitecture("sd15", "SD1")
SD15_INPAINT = ModelArchitecture("sd15-inpaint", "SD1", inpainting=True)
SD2 = ModelArchitecture("sd2", "SD2")
SD2_V = ModelArchitecture("sd2-v", "SD2", prediction_type="v_prediction")
SD2_INPAINT = ModelArchitecture("sd2-inpaint", "SD2", inpainting=True)
SDXL = ModelArchitecture("sdxl-base", "SDXL")
SDXL_REFINER = ModelArchitecture("sdxl-refiner", "SDXL", refiner=True)
ARCHITECTURES = {a.name: a for a in (SD15, SD15_INPAINT, SD2, SD2_V, SD2_INPAINT, SDXL, SDXL_REFINER)}


def _declares_v_prediction(state_dict: dict, metadata: dict, filename: str) -> bool:
    """SD2 768-v cannot be told from its keys: safetensors metadata, a v_pred key or a sibling .yaml says so."""
    if str(metadata.get("modelspec.prediction_type", "")).lower() in ("v", "v_prediction"):
        return True
    if "v_pred" in state_dict:
        return True
    yaml_path = os.path.splitext(filename)[0] + ".yaml"
    if os.path.isfile(yaml_path):
        with open(yaml_path, encoding="utf8") as file:
            text = file.read().replace('"', "").replace("'", "")
        return "parameterization: v" in text
    return False


def detect_architecture(state_dict: dict, metadata: dict | None = None, filename: str = "") -> ModelArchitecture:
    metadata = metadata or {}
    unet_input = state_dict.get(UNET_INPUT_KEY)
    if unet_input is None:
        raise UnknownModelLayout(f"{filename}: not a Stable Diffusion checkpoint (no {UNET_INPUT_KEY})")
    inpainting = unet_input.shape[1] == 9
    if SDXL_TEXT2_KEY in state_dict or SDXL_REFINER_TEXT_KEY in state_dict:
        if inpainting:
            raise UnknownModelLayout(f"{filename}: SDXL inpainting checkpoints are not supported")
        return SDXL if SDXL_TEXT2_KEY in state_dict else SDXL_REFINER
    if SD2_TEXT_KEY in state_dict:
        if inpainting:
            return SD2_INPAINT
        return SD2_V if _declares_v_prediction(state_dict, metadata, filename) else SD2
    if SD1_TEXT_KEY in state_dict:
        return SD15_INPAINT if inpainting else SD15
    raise UnknownModelLayout(f"{filename}: unknown checkpoint layout (no SD1, SD2 or SDXL text encoder keys)")
