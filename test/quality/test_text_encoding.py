"""Prompt text → conditioning: 75-token chunks, comma backtracking, BREAK, emphasis, clip skip, padding, SDXL."""

import pytest
import torch

from modules import devices, prompt_parser, sd_models
from modules.sd_model_diffusers import DiffusersStableDiffusion, MicroConditioning, config_dir_for
from modules.sd_models_detect import detect_architecture
from modules.sd_text_encoding import CHUNK_LENGTH, PromptChunker


def build_model(path: str) -> DiffusersStableDiffusion:
    """A model of its own (not shared.sd_model), straight from a tiny checkpoint."""
    state_dict, metadata = sd_models.read_state_dict(path)
    architecture = detect_architecture(state_dict, metadata, path)
    return DiffusersStableDiffusion(state_dict, architecture, config_dir_for(path, architecture), devices.cpu)


@pytest.fixture(scope="module")
def sd2_model(tiny_arch_checkpoints):
    return build_model(tiny_arch_checkpoints["sd2"])


@pytest.fixture(scope="module")
def sdxl_model(tiny_arch_checkpoints):
    return build_model(tiny_arch_checkpoints["sdxl-base"])


def chunker_for(model, comma_padding_backtrack: int = 20, emphasis: str = "Original") -> PromptChunker:
    return PromptChunker(model.tokenizer, model.conditioner.specs[0].ids, comma_padding_backtrack, emphasis)


def tokens_of(model, text: str) -> list[int]:
    return model.tokenizer(text, add_special_tokens=False)["input_ids"]


def words(word: str, count: int) -> str:
    return " ".join([word] * count)


def test_one_word_is_one_token(sd_model):
    """The chunking tests below count tokens by counting these words."""
    for word in ("cat", "dog", ","):
        assert len(tokens_of(sd_model, word)) == 1
    assert len(tokens_of(sd_model, words("cat", 10))) == 10


@pytest.mark.parametrize("n_tokens", [1, 75, 76, 150, 151, 225])
def test_prompts_are_split_into_75_token_chunks(sd_model, n_tokens):
    n_chunks = -(-n_tokens // CHUNK_LENGTH)
    chunks, token_count = chunker_for(sd_model).chunk_line(words("cat", n_tokens))
    assert token_count == n_tokens
    assert len(chunks) == n_chunks
    assert all(len(chunk.tokens) == CHUNK_LENGTH + 2 for chunk in chunks)
    cond = sd_model.get_learned_conditioning([words("cat", n_tokens)])
    assert cond.shape[:2] == (1, (CHUNK_LENGTH + 2) * n_chunks)


def test_full_chunks_give_77_154_231_tokens(sd_model):
    lengths = [sd_model.get_learned_conditioning([words("cat", n)]).shape[1] for n in (75, 150, 225)]
    assert lengths == [77, 154, 231]


def test_a_shorter_prompt_in_a_batch_is_padded_with_empty_chunks(sd_model):
    cond = sd_model.get_learned_conditioning([words("cat", 3), words("cat", 100)])
    assert cond.shape[:2] == (2, 154)
    alone = sd_model.get_learned_conditioning([words("cat", 3)])
    assert torch.allclose(cond[0, :77], alone[0], atol=1e-6)


def test_comma_backtracking_moves_the_tail_to_the_next_chunk(sd_model):
    cat, comma, dog = (tokens_of(sd_model, text)[0] for text in ("cat", ",", "dog"))
    prompt = f"{words('cat', 70)} , {words('dog', 10)}"

    chunks, _ = chunker_for(sd_model, comma_padding_backtrack=20).chunk_line(prompt)
    assert len(chunks) == 2
    assert chunks[0].tokens[1:72] == [cat] * 70 + [comma]
    assert dog not in chunks[0].tokens
    assert chunks[1].tokens[1:11] == [dog] * 10

    no_backtrack, _ = chunker_for(sd_model, comma_padding_backtrack=0).chunk_line(prompt)
    assert no_backtrack[0].tokens[72:76] == [dog] * 4
    assert no_backtrack[1].tokens[1:7] == [dog] * 6

    too_far, _ = chunker_for(sd_model, comma_padding_backtrack=3).chunk_line(prompt)
    assert too_far[0].tokens == no_backtrack[0].tokens, "a comma further back than the limit is not used"


def test_break_starts_a_new_chunk(sd_model):
    chunks, _ = chunker_for(sd_model).chunk_line("a cat BREAK a dog")
    assert len(chunks) == 2
    assert chunks[0].tokens == chunker_for(sd_model).chunk_line("a cat")[0][0].tokens
    assert chunks[1].tokens == chunker_for(sd_model).chunk_line("a dog")[0][0].tokens
    assert sd_model.get_learned_conditioning(["a cat BREAK a dog"]).shape[1] == 154
    assert len(chunker_for(sd_model).chunk_line("a cat break a dog")[0]) == 1, "only the upper-case word breaks"


@pytest.mark.parametrize(("emphasis", "changes"), [("Original", True), ("No norm", True), ("Ignore", False)])
def test_emphasis_modes(sd_model, emphasis, changes):
    plain, emphasised = (sd_model.get_learned_conditioning([text], emphasis=emphasis)
                         for text in ("a cat on a mat", "a (cat) on a mat"))
    assert torch.equal(plain, emphasised) != changes


def test_emphasis_weight_scales_the_emphasised_tokens(sd_model):
    chunk = chunker_for(sd_model).chunk_line("a (cat:1.5) on a [mat]")[0][0]
    cat, mat = (tokens_of(sd_model, text)[0] for text in ("cat", "mat"))
    assert chunk.multipliers[chunk.tokens.index(cat)] == pytest.approx(1.5)
    assert chunk.multipliers[chunk.tokens.index(mat)] == pytest.approx(1 / 1.1)
    ignored = chunker_for(sd_model, emphasis="Ignore").chunk_line("a (cat:1.5) on a [mat]")[0][0]
    assert ignored.tokens == chunk.tokens and set(ignored.multipliers) == {1.0}


def test_clip_skip_2_differs_from_1(sd_model):
    first, second = (sd_model.get_learned_conditioning(["a cat on a mat"], clip_skip=skip) for skip in (1, 2))
    assert first.shape == second.shape
    assert not torch.equal(first, second)


def test_sd1_pads_with_end_of_text_and_sd2_with_zero(sd_model, sd2_model):
    sd1_chunk = chunker_for(sd_model).chunk_line("a cat")[0][0]
    sd2_chunk = chunker_for(sd2_model).chunk_line("a cat")[0][0]
    end = sd_model.tokenizer.eos_token_id
    assert end == 49407 and sd_model.tokenizer.convert_ids_to_tokens(end) == "<|endoftext|>"
    text = tokens_of(sd_model, "a cat")
    start = sd_model.tokenizer.bos_token_id
    padding = CHUNK_LENGTH - len(text)
    assert sd1_chunk.tokens == [start] + text + [end] + [end] * padding
    assert sd2_chunk.tokens == [start] + text + [end] + [0] * padding


def test_sd2_conditioning_sees_the_zero_padding(sd2_model):
    start, end = sd2_model.tokenizer.bos_token_id, sd2_model.tokenizer.eos_token_id
    text = tokens_of(sd2_model, "a cat")
    padded = {pad: [start] + text + [end] + [pad] * (CHUNK_LENGTH - len(text)) for pad in (0, end)}
    with torch.no_grad():
        hidden = {pad: sd2_model.text_encoder(input_ids=torch.tensor([ids])).last_hidden_state
                  for pad, ids in padded.items()}
    assert not torch.equal(hidden[0], hidden[end]), "the padding token matters to this encoder"
    cond = sd2_model.get_learned_conditioning(["a cat"])
    assert torch.allclose(cond, hidden[0], atol=1e-6)


def test_sdxl_gives_crossattn_pooled_vector_and_time_ids(sdxl_model):
    texts = prompt_parser.SdConditioning(["a cat", "a dog"], width=64, height=48)
    cond = sdxl_model.get_learned_conditioning(texts)
    assert set(cond) == {"crossattn", "vector", "time_ids"}
    widths = sdxl_model.text_encoder.config.hidden_size + sdxl_model.text_encoder_2.config.hidden_size
    assert cond["crossattn"].shape == (2, 77, widths)
    assert cond.shape == cond["crossattn"].shape
    assert cond["vector"].shape == (2, sdxl_model.text_encoder_2.config.projection_dim)
    assert not torch.equal(cond["vector"][0], cond["vector"][1]), "one pooled vector per prompt"
    assert cond["time_ids"].tolist() == [[48, 64, 0, 0, 48, 64]] * 2
    unet = sdxl_model.unet.config
    assert cond["vector"].shape[1] + 6 * unet.addition_time_embed_dim == unet.projection_class_embeddings_input_dim


def test_sd2_ignores_clip_skip_as_a1111_does(tiny_arch_checkpoints):
    model = sd_models.load_model(sd_models.CheckpointInfo(tiny_arch_checkpoints["sd2"]))
    first, second = (model.get_learned_conditioning(["a cat on a mat"], clip_skip=skip) for skip in (1, 2))
    assert torch.equal(first, second)


def test_the_sdxl_refiner_encodes_with_openclip_bigg_alone_and_its_aesthetic_scores(tiny_arch_checkpoints, sdxl_model):
    refiner = build_model(tiny_arch_checkpoints["sdxl-refiner"])
    assert refiner.is_sdxl and refiner.is_sdxl_refiner and not sdxl_model.is_sdxl_refiner
    assert [spec.embedding_key for spec in refiner.conditioner.specs] == ["clip_g"] and refiner.text_encoder is None
    micro = MicroConditioning(crop_top=8, crop_left=16, high_aesthetic_score=7.0, low_aesthetic_score=1.5)
    positive = refiner.get_learned_conditioning(prompt_parser.SdConditioning(["a cat"], width=64, height=32),
                                                micro=micro)
    negative = refiner.get_learned_conditioning(
        prompt_parser.SdConditioning(["blurry"], is_negative_prompt=True, width=64, height=32), micro=micro)
    assert positive["time_ids"].tolist() == [[32, 64, 8, 16, 7.0]]
    assert negative["time_ids"].tolist() == [[32, 64, 8, 16, 1.5]]
    assert positive["crossattn"].shape[-1] == refiner.text_encoder_2.config.hidden_size
    base = sdxl_model.get_learned_conditioning(prompt_parser.SdConditioning(["a cat"], width=64, height=32),
                                               micro=micro)
    assert base["time_ids"].tolist() == [[32, 64, 8, 16, 32, 64]]  # the base: crop, then the target size
