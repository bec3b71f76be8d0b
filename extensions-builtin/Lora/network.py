"""A LoRA file on disk (NetworkOnDisk) and a LoRA as one request uses it (Network), with A1111's names."""

import json
import os

from modules import errors, hashes, sd_models, shared


def read_metadata(filename: str) -> dict:
    """The safetensors header metadata; values that hold JSON objects are decoded, as A1111 shows them."""
    metadata = {}
    for key, value in sd_models.read_metadata(filename).items():
        if isinstance(value, str) and value.startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        metadata[key] = value
    return metadata


class NetworkOnDisk:
    def __init__(self, name: str, filename: str):
        self.name = name
        self.filename = filename
        self.is_safetensors = os.path.splitext(filename)[1].lower() == ".safetensors"
        self.metadata = {}
        try:
            self.metadata = read_metadata(filename)
        except Exception as e:
            errors.display(e, f"reading lora {filename}")
        self.alias = self.metadata.get("ss_output_name", self.name)
        self.hash = None
        self.shorthash = None
        self.set_hash(self.metadata.get("sshs_model_hash") or self._cached_hash() or "")

    def _cached_hash(self) -> str | None:
        return hashes.sha256_from_cache(self.filename, "hashes-addnet" if self.is_safetensors else "hashes")

    def set_hash(self, value: str) -> None:
        self.hash = value
        self.shorthash = value[:12]

    def read_hash(self) -> None:
        if not self.hash:
            self.set_hash(hashes.sha256(self.filename, use_addnet_hash=self.is_safetensors) or "")

    def get_alias(self, forbidden_aliases=()) -> str:
        if shared.opts.lora_preferred_name == "Filename" or self.alias.lower() in forbidden_aliases:
            return self.name
        return self.alias


class Network:
    """One LoRA of a request: its file, the name the prompt used for it, and its two multipliers."""

    def __init__(self, name: str, network_on_disk: NetworkOnDisk):
        self.name = name
        self.network_on_disk = network_on_disk
        self.te_multiplier = 1.0
        self.unet_multiplier = 1.0
        self.dyn_dim = None
        self.mentioned_name = None
        self.adapter_name = None
        self.components: set[str] = set()
