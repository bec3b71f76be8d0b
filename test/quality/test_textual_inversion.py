"""Textual inversion embeddings on the tiny real models: A1111's .pt, diffusers' .bin and .safetensors layouts
(SD1, SD2, SDXL's clip_l + clip_g), loaded or skipped by width, used by name in prompts and negative prompts (an
embedding holding a phrase's own token vectors conditions exactly as the phrase), kept whole in one chunk, and named
in the infotext's "TI hashes"."""

import numpy as np
import pytest
import safetensors.torch
import torch

from modules import sd_models, shared
from modules.sd_hijack import model_hijack
from modules.sd_text_encoding import CHUNK_LENGTH, PromptChunker
from modules.textual_inversion import textual_inversion
from test.generation_job import process_as_a_job, small_txt2img
from test.quality.test_text_encoding import build_model, tokens_of


def token_vectors(model, text: str, encoder=None) -> torch.Tensor:
    """The text encoder's own input vectors for the text's tokens."""
    encoder = encoder or model.text_encoder
    ids = torch.tensor(tokens_of(model, text))
    return encoder.get_input_embeddings().weight[ids].detach().clone()


@pytest.fixture
def embeddings_dir(tmp_path, monkeypatch, sd_model):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    monkeypatch.setattr(shared.cmd_opts, "embeddings_dir", str(folder))
    yield folder
    for path in folder.iterdir():
        path.unlink()
    sd_models.load_embeddings(sd_model)


def reload(model) -> textual_inversion.EmbeddingDatabase:
    sd_models.load_embeddings(model)
    return model_hijack.embedding_db


def pixels(processed) -> np.ndarray:
    return np.asarray(processed.images[0])


def test_an_embedding_of_a_phrases_vectors_generates_what_the_phrase_generates(sd_model, embeddings_dir):
    vectors = token_vectors(sd_model, "red circle")
    torch.save({"string_to_param": {"*": vectors}, "name": "zzshape", "step": 7}, embeddings_dir / "zzshape.pt")
    database = reload(sd_model)
    assert set(database.word_embeddings) == {"zzshape"}
    with_phrase = process_as_a_job(small_txt2img(prompt="a red circle on black", negative_prompt="blue"))
    with_embedding = process_as_a_job(small_txt2img(prompt="a zzshape on black", negative_prompt="blue"))
    assert np.array_equal(pixels(with_phrase), pixels(with_embedding))
    shorthash = database.word_embeddings["zzshape"].shorthash
    assert len(shorthash) == 12
    assert f'TI hashes: "zzshape: {shorthash}"' in with_embedding.infotexts[0]
    assert "TI hashes" not in with_phrase.infotexts[0]
    plain_word = process_as_a_job(small_txt2img(prompt="a zzshape on black", negative_prompt="blue"))
    for path in embeddings_dir.iterdir():
        path.unlink()
    reload(sd_model)
    without = process_as_a_job(small_txt2img(prompt="a zzshape on black", negative_prompt="blue"))
    assert np.array_equal(pixels(plain_word), pixels(with_embedding))
    assert not np.array_equal(pixels(without), pixels(with_embedding)), "the name alone means something else"


def test_a_negative_prompt_uses_embeddings_too(sd_model, embeddings_dir):
    safetensors.torch.save_file({"emb_params": token_vectors(sd_model, "blue square")},
                                str(embeddings_dir / "zzneg.safetensors"))
    reload(sd_model)
    with_phrase = process_as_a_job(small_txt2img(negative_prompt="blue square"))
    with_embedding = process_as_a_job(small_txt2img(negative_prompt="zzneg"))
    assert np.array_equal(pixels(with_phrase), pixels(with_embedding))
    assert "TI hashes: zzneg: " in with_embedding.infotexts[0] or 'TI hashes: "zzneg: ' in with_embedding.infotexts[0]


def test_layouts_load_and_an_embedding_of_another_width_or_a_broken_file_is_skipped(sd_model, embeddings_dir):
    width = sd_model.text_encoder.config.hidden_size
    torch.save({"<cat-toy>": torch.randn(width)}, embeddings_dir / "diffusers-concept.bin")
    safetensors.torch.save_file({"emb_params": torch.randn(3, width)}, str(embeddings_dir / "three.safetensors"))
    torch.save({"string_to_param": {"*": torch.randn(2, 768)}}, embeddings_dir / "for-sd15-768.pt")
    (embeddings_dir / "broken.pt").write_bytes(b"not a pickle")
    database = reload(sd_model)
    assert {name: e.vectors for name, e in database.word_embeddings.items()} == {"diffusers-concept": 1, "three": 3}
    assert {name: e.shape for name, e in database.skipped_embeddings.items()} == {"for-sd15-768": 768}
    assert list(database.errors) == [str(embeddings_dir / "broken.pt")]


def test_an_embedding_file_holding_code_is_refused(sd_model, embeddings_dir):
    import pickle

    class Runs:
        def __reduce__(self):
            return (print, ("ran",))

    (embeddings_dir / "evil.pt").write_bytes(pickle.dumps({"string_to_param": Runs()}))
    database = reload(sd_model)
    assert database.word_embeddings == {} and "refused" in database.errors[str(embeddings_dir / "evil.pt")]


class OneEmbedding:
    def __init__(self, model, name: str, vectors: int):
        self.ids = tokens_of(model, name)
        self.embedding = textual_inversion.Embedding(torch.zeros(vectors, 4), name)
        self.embedding.vectors = vectors

    def find_embedding_at_position(self, tokens, offset):
        if tokens[offset:offset + len(self.ids)] == self.ids:
            return self.embedding, len(self.ids)
        return None, None


def test_an_embedding_is_kept_whole_in_one_chunk_at_its_place(sd_model):
    found = OneEmbedding(sd_model, "zzshape", vectors=3)
    chunker = PromptChunker(sd_model.tokenizer, sd_model.conditioner.specs[0].ids, comma_padding_backtrack=0,
                            embeddings=found)
    words = " ".join(["cat"] * (CHUNK_LENGTH - 1))
    chunks, token_count = chunker.chunk_line(f"{words} zzshape dog")
    assert len(chunks) == 2 and token_count == CHUNK_LENGTH + 4
    assert chunks[0].fixes == []
    assert chunks[1].fixes == [(1, found.embedding)], "after the start token of the next chunk"
    assert chunks[1].tokens[1:5] == [0, 0, 0, tokens_of(sd_model, "dog")[0]]
    first, _ = chunker.chunk_line("a zzshape")
    assert first[0].fixes == [(2, found.embedding)]


def test_sdxl_takes_clip_l_and_clip_g_vectors_for_its_two_encoders(tiny_arch_checkpoints, tmp_path):
    model = build_model(tiny_arch_checkpoints["sdxl-base"])
    folder = tmp_path / "sdxl-embeddings"
    folder.mkdir()
    safetensors.torch.save_file({"clip_l": token_vectors(model, "red circle", model.text_encoder),
                                 "clip_g": token_vectors(model, "red circle", model.text_encoder_2)},
                                str(folder / "zzxl.safetensors"))
    torch.save({"string_to_param": {"*": torch.randn(1, model.text_encoder.config.hidden_size)}},
               folder / "sd1-only.pt")
    database = textual_inversion.EmbeddingDatabase([str(folder)])
    database.load_textual_inversion_embeddings(model.tokenizer, model.embedding_widths())
    assert list(database.word_embeddings) == ["zzxl"] and list(database.skipped_embeddings) == ["sd1-only"]
    model.conditioner.embeddings = database
    phrase = model.get_learned_conditioning(["a red circle on black"])
    embedded = model.get_learned_conditioning(["a zzxl on black"])
    assert torch.equal(phrase["crossattn"], embedded["crossattn"])
    assert torch.equal(phrase["vector"], embedded["vector"])


def test_the_embeddings_route_lists_loaded_and_skipped(sd_model, embeddings_dir):
    from test.api_client import in_process_api

    width = sd_model.text_encoder.config.hidden_size
    torch.save({"string_to_param": {"*": torch.randn(2, width)}, "step": 40, "sd_checkpoint": "abc123",
                "sd_checkpoint_name": "base"}, embeddings_dir / "mine.pt")
    torch.save({"string_to_param": {"*": torch.randn(1, width + 1)}}, embeddings_dir / "other.pt")
    client = in_process_api()
    assert client.post("/sdapi/v1/refresh-embeddings").status_code == 200
    listed = client.get("/sdapi/v1/embeddings").json()
    assert listed == {"loaded": {"mine": {"step": 40, "sd_checkpoint": "abc123", "sd_checkpoint_name": "base",
                                          "shape": width, "vectors": 2}},
                      "skipped": {"other": {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None,
                                            "shape": width + 1, "vectors": 1}}}


def test_the_textual_inversion_page_shows_a_card_for_each_usable_embedding(sd_model, embeddings_dir):
    from modules import ui_extra_networks
    from modules.ui_extra_networks_prompt import update_prompt
    from modules.ui_extra_networks_textual_inversion import ExtraNetworksPageTextualInversion

    width = sd_model.text_encoder.config.hidden_size
    safetensors.torch.save_file({"emb_params": torch.randn(1, width)}, str(embeddings_dir / "zzcard.safetensors"))
    safetensors.torch.save_file({"emb_params": torch.randn(1, width + 2)}, str(embeddings_dir / "zzwide.safetensors"))
    page = ExtraNetworksPageTextualInversion()
    page.refresh()
    items = list(page.list_items())
    assert [item["name"] for item in items] == ["zzcard"] and items[0]["prompt"] == "zzcard"
    assert items[0]["search_terms"] == ["embeddings/zzcard.safetensors"]
    assert update_prompt("a cat", items[0]["prompt"], ", ") == "a cat, zzcard"
    ui_extra_networks.initialize()
    assert [page.title for page in ui_extra_networks.extra_pages] == ["Textual Inversion"]
