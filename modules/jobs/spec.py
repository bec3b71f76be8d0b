"""GenerationSpec: one generation request as a plain value, the same whether the UI, the API or the command line
made it, stored with its job as JSON (never a pickle).

Script arguments are kept by script title (the selected script's, each always-on script's), not as positions in
one list, so a job queued before an extension was added or removed still means the same thing."""

import base64
import dataclasses
import hashlib
import json
from typing import Any

from modules.jobs import script_values

SCHEMA_VERSION = 1
MODES = ("txt2img", "img2img")
SOURCES = ("api", "ui", "cli")
IMAGE_FIELDS = ("init_images", "mask", "latent_mask", "firstpass_image")
"""Request fields that hold images; the spec keeps them as PNG bytes in `images`, not in `params`."""
SCRIPT_FIELDS = ("script_name", "script_args", "alwayson_scripts")


class SpecError(ValueError):
    """A stored spec that cannot be read (unknown schema version, a broken field)."""


@dataclasses.dataclass(frozen=True)
class GenerationSpec:
    mode: str
    params: dict[str, Any]
    """A1111's txt2img/img2img request fields (override_settings included), images and scripts left out."""
    source: str = "api"
    script_name: str | None = None
    script_args: list = dataclasses.field(default_factory=list)
    alwayson_scripts: dict[str, dict] = dataclasses.field(default_factory=dict)
    """title -> {"args": [...]}, A1111's request shape"""
    images: dict[str, list[bytes]] = dataclasses.field(default_factory=dict)
    """request field -> PNG bytes (one entry for single-image fields)"""
    extra_generation_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Infotext entries the UI adds for its own controls (inpainting's "Mask mode", "Masked content")."""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.mode not in MODES:
            raise SpecError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if self.source not in SOURCES:
            raise SpecError(f"source: expected one of {', '.join(SOURCES)}, got {self.source!r}")

    @property
    def send_images(self) -> bool:
        return bool(self.params.get("send_images", True))

    def requested_checkpoint(self) -> str | None:
        """The checkpoint the request names (override_settings.sd_model_checkpoint, a non-empty text); None: the
        selected one."""
        value = (self.params.get("override_settings") or {}).get("sd_model_checkpoint")
        return value if isinstance(value, str) and value else None

    def image(self, field: str):
        """The first image of a request field as PIL, None when not given."""
        data = self.images.get(field)
        return script_values.image_from_png(data[0]) if data else None

    def image_list(self, field: str) -> list:
        return [script_values.image_from_png(data) for data in self.images.get(field, [])]

    def to_json(self) -> str:
        return json.dumps({
            "schema_version": self.schema_version, "mode": self.mode, "source": self.source, "params": self.params,
            "script_name": self.script_name,
            "script_args": script_values.encode(self.script_args, "script_args"),
            "alwayson_scripts": script_values.encode(self.alwayson_scripts, "alwayson_scripts"),
            "images": {field: [base64.b64encode(data).decode("ascii") for data in items]
                       for field, items in self.images.items()},
            "extra_generation_params": self.extra_generation_params,
        }, sort_keys=True, ensure_ascii=False)

    def fingerprint(self) -> str:
        """Equal for specs that ask for the same thing (idempotency checks compare these)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> "GenerationSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError(f"not JSON: {e}") from e
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SpecError(f"schema_version {version!r} is not one this version reads ({SCHEMA_VERSION})")
        return cls(mode=data["mode"], source=data["source"], params=data["params"], script_name=data["script_name"],
                   script_args=script_values.decode(data["script_args"]),
                   alwayson_scripts=script_values.decode(data["alwayson_scripts"]),
                   images={field: [base64.b64decode(item) for item in items]
                           for field, items in data["images"].items()},
                   extra_generation_params=data["extra_generation_params"], schema_version=version)

