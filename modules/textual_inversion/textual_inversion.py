"""Textual inversion embeddings (A1111's modules/textual_inversion/textual_inversion.py names): files in the
embeddings folder, used by name in prompts. A1111's .pt ("string_to_param"), diffusers' .bin ({token: vector}),
.safetensors ("emb_params", or SDXL's "clip_l" + "clip_g"); those whose width does not fit the loaded model's text
encoders are skipped, as in A1111."""

import logging
import os

import safetensors.torch
import torch

from modules import hashes, safe

log = logging.getLogger(__name__)

EXTENSIONS = (".pt", ".bin", ".safetensors")
SDXL_KEYS = ("clip_l", "clip_g")


class Embedding:
    def __init__(self, vec, name: str, step: int | None = None):
        self.vec = vec
        """[vectors, width] tensor; for SDXL {"clip_l": ..., "clip_g": ...}"""
        self.name = name
        self.step = step
        self.shape = None
        self.vectors = 0
        self.sd_checkpoint = None
        self.sd_checkpoint_name = None
        self.filename = None
        self.hash = None
        self.shorthash = None

    def vectors_for(self, key: str | None) -> torch.Tensor:
        """The vectors for one text encoder (key: "clip_l"/"clip_g" on SDXL, None otherwise)."""
        return self.vec[key] if isinstance(self.vec, dict) else self.vec

    def set_hash(self, value: str | None):
        self.hash = value
        self.shorthash = value[:12] if value else None


def _first_tensor(values) -> torch.Tensor:
    values = getattr(values, "_parameters", values)
    if len(values) != 1:
        raise ValueError(f"expected one embedding tensor, found {len(values)}")
    return next(iter(values.values()))


def embedding_from_data(data, name: str) -> Embedding:
    """An Embedding from a loaded file's contents; ValueError when it holds none of the known layouts."""
    if isinstance(data, dict) and "string_to_param" in data:
        vec = _first_tensor(data["string_to_param"]).detach().float()
        embedding = Embedding(vec, name, step=data.get("step"))
        embedding.sd_checkpoint = data.get("sd_checkpoint")
        embedding.sd_checkpoint_name = data.get("sd_checkpoint_name")
    elif isinstance(data, dict) and all(key in data for key in SDXL_KEYS):
        vec = {key: data[key].detach().float() for key in SDXL_KEYS}
        embedding = Embedding(vec, name)
    elif isinstance(data, dict) and data and all(isinstance(value, torch.Tensor) for value in data.values()):
        vec = _first_tensor(data).detach().float()
        embedding = Embedding(vec.unsqueeze(0) if vec.dim() == 1 else vec, name)
    else:
        raise ValueError("neither a textual inversion embedding nor a diffusers concept")
    if isinstance(embedding.vec, dict):
        embedding.vectors = embedding.vec["clip_l"].shape[0]
        embedding.shape = sum(vectors.shape[-1] for vectors in embedding.vec.values())
    else:
        if embedding.vec.dim() != 2:
            raise ValueError(f"expected [vectors, width] values, got shape {tuple(embedding.vec.shape)}")
        embedding.vectors, embedding.shape = embedding.vec.shape
    return embedding


def load_file(path: str):
    if path.endswith(".safetensors"):
        return safetensors.torch.load_file(path, device="cpu")
    return safe.load(path)  # the restricted unpickler: an embedding file holding code is refused


class EmbeddingDatabase:
    """The embeddings that fit the loaded model (word_embeddings) and those that do not (skipped_embeddings), with
    their names' token ids for finding them in a prompt."""

    def __init__(self, folders: list[str] | None = None):
        self.folders = list(folders or [])
        self.word_embeddings: dict[str, Embedding] = {}
        self.skipped_embeddings: dict[str, Embedding] = {}
        self.ids_lookup: dict[int, list[tuple[list[int], Embedding]]] = {}
        self.errors: dict[str, str] = {}
        """file -> why it could not be read"""

    def files(self) -> list[str]:
        found = []
        for folder in self.folders:
            for root, _, names in os.walk(folder, followlinks=True):
                found += [os.path.join(root, name) for name in sorted(names)
                          if name.lower().endswith(EXTENSIONS) and not name.startswith(".")]
        return found

    def load_textual_inversion_embeddings(self, tokenizer, expected_widths: dict[str | None, int]) -> None:
        """Reads every file again; an embedding whose widths match expected_widths ({None: width}, or SDXL's
        {"clip_l": width, "clip_g": width}) is usable, the others are skipped."""
        self.word_embeddings, self.skipped_embeddings, self.ids_lookup, self.errors = {}, {}, {}, {}
        for path in self.files():
            name = os.path.splitext(os.path.basename(path))[0]
            try:
                embedding = embedding_from_data(load_file(path), name)
            except Exception as error:  # one bad file must not stop the others
                self.errors[path] = safe.reason(error)
                log.warning("Textual inversion embedding %s not loaded: %s", path, self.errors[path])
                continue
            embedding.filename = path
            embedding.set_hash(hashes.sha256(path))
            if fits(embedding, expected_widths):
                self.register_embedding(embedding, tokenizer)
            else:
                self.skipped_embeddings[name] = embedding

    def register_embedding(self, embedding: Embedding, tokenizer) -> None:
        self.word_embeddings[embedding.name] = embedding
        ids = tokenizer([embedding.name], truncation=False, add_special_tokens=False)["input_ids"][0]
        if not ids:
            return
        candidates = self.ids_lookup.setdefault(ids[0], [])
        candidates.append((ids, embedding))
        candidates.sort(key=lambda entry: len(entry[0]), reverse=True)

    def find_embedding_at_position(self, tokens: list[int], offset: int) -> tuple[Embedding | None, int | None]:
        """The embedding whose name's tokens start at tokens[offset] (the longest name first), and that length."""
        for ids, embedding in self.ids_lookup.get(tokens[offset], ()):
            if tokens[offset:offset + len(ids)] == ids:
                return embedding, len(ids)
        return None, None

    def used_in(self, tokenizer, texts: list[str]) -> list[Embedding]:
        """The embeddings named in any of texts, in the order first met."""
        used: dict[str, Embedding] = {}
        if not self.ids_lookup:
            return []
        for text in set(texts):
            tokens = tokenizer([text], truncation=False, add_special_tokens=False)["input_ids"][0]
            offset = 0
            while offset < len(tokens):
                embedding, length = self.find_embedding_at_position(tokens, offset)
                if embedding is None:
                    offset += 1
                    continue
                used.setdefault(embedding.name, embedding)
                offset += length
        return sorted(used.values(), key=lambda embedding: embedding.name)


def fits(embedding: Embedding, expected_widths: dict[str | None, int]) -> bool:
    if isinstance(embedding.vec, dict):
        return set(expected_widths) == set(SDXL_KEYS) and all(
            embedding.vec[key].shape[-1] == width for key, width in expected_widths.items())
    return set(expected_widths) == {None} and embedding.shape == expected_widths[None]


def infotext_hashes(embeddings: list[Embedding]) -> str | None:
    """A1111's "TI hashes" value: "name: shorthash, ..." (":" and "," taken out of names)."""
    if not embeddings:
        return None
    return ", ".join(f"{embedding.name.replace(':', '').replace(',', '')}: {embedding.shorthash}"
                     for embedding in embeddings)
