import json
import os

import pytest
from transformers import CLIPTokenizer

from modules.paths_internal import tokenizer_path
from tools.derive_clip_vocab import bytes_to_unicode, derive


@pytest.fixture(scope="module")
def tokenizer():
    return CLIPTokenizer.from_pretrained(tokenizer_path, local_files_only=True)


def test_vocabulary_size(tokenizer):
    assert len(tokenizer) == 49408


def test_known_prompt_ids(tokenizer):
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_special_tokens(tokenizer):
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (49406, 49407, 49407)
    assert tokenizer.model_max_length == 77


def test_lowercases_and_splits_punctuation(tokenizer):
    assert tokenizer("A Photo, of a CAT").input_ids == [49406, 320, 1125, 267, 539, 320, 2368, 49407]


def test_byte_order_puts_printable_bytes_first():
    chars = list(bytes_to_unicode().values())
    assert len(set(chars)) == 256
    assert chars[0] == "!" and chars[93] == "~" and chars[188] == "Ā"


def test_vocab_json_is_derived_from_merges_txt():
    with open(os.path.join(tokenizer_path, "merges.txt"), encoding="utf-8") as f:
        vocab, merges = derive(f.read())
    with open(os.path.join(tokenizer_path, "vocab.json"), encoding="utf-8") as f:
        assert json.load(f) == vocab
    assert len(merges) == 48894
