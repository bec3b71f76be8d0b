"""Captions -> the 77 token ids the webui feeds SD1's CLIP: start, tokens, end, then the end token as padding.

Built with the webui's own chunker, so the text encoder trains on exactly the input it sees at inference.
"""

import torch

from modules import sd_text_encoding
from modules.sd_model_diffusers import load_tokenizer


def caption_token_ids(captions: list[str]) -> torch.Tensor:
    """(len(captions), 77) int64; each caption must fit one 75-token chunk."""
    tokenizer = load_tokenizer()
    ids = sd_text_encoding.token_ids_for(tokenizer, pad_with_zero=False)
    chunker = sd_text_encoding.PromptChunker(tokenizer, ids, emphasis="None")
    rows = []
    cache: dict[str, list[int]] = {}
    for caption in captions:
        if caption not in cache:
            chunks, _ = chunker.chunk_line(caption)
            if len(chunks) != 1:
                raise ValueError(f"caption longer than one chunk: {caption!r}")
            cache[caption] = chunks[0].tokens
        rows.append(cache[caption])
    return torch.tensor(rows, dtype=torch.int64)
