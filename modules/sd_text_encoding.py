"""Prompt text → CLIP conditioning the A1111 way: 75-token chunks, comma backtracking, emphasis, clip skip."""

import contextlib
from dataclasses import dataclass, field

import torch

from modules import prompt_parser

CHUNK_LENGTH = 75
EMPHASIS_MODES = ("None", "Ignore", "Original", "No norm")


@dataclass
class PromptChunk:
    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, object]] = field(default_factory=list)
    """(position in tokens, textual inversion Embedding): its vectors replace the token embeddings there"""


@dataclass(frozen=True)
class TokenIds:
    start: int
    end: int
    pad: int
    comma: int


def token_ids_for(tokenizer, pad_with_zero: bool) -> TokenIds:
    """SD1's CLIP pads with the end token, the OpenCLIP encoders (SD2, SDXL's second) with 0."""
    end = tokenizer.eos_token_id
    return TokenIds(tokenizer.bos_token_id, end, 0 if pad_with_zero else end, tokenizer.get_vocab()[",</w>"])


def parse_weighted_text(line: str, emphasis: str) -> list[tuple[str, float]]:
    if emphasis == "None":
        return [(line, 1.0)]
    return [(text, weight) for text, weight in prompt_parser.parse_prompt_attention(line)]


class PromptChunker:
    """Splits one prompt line into chunks of 75 tokens plus start/end, the way A1111 does."""

    def __init__(self, tokenizer, ids: TokenIds, comma_padding_backtrack: int = 20, emphasis: str = "Original",
                 embeddings=None):
        self.tokenizer = tokenizer
        self.ids = ids
        self.comma_padding_backtrack = comma_padding_backtrack
        self.emphasis = emphasis
        self.embeddings = embeddings
        """textual inversion: an EmbeddingDatabase (find_embedding_at_position), or None"""

    def empty_chunk(self) -> PromptChunk:
        return self._close(PromptChunk())

    def _close(self, chunk: PromptChunk) -> PromptChunk:
        """start + tokens + end, then the encoder's padding token up to 77 (SD1: end again, OpenCLIP: 0)."""
        padding = CHUNK_LENGTH - len(chunk.tokens)
        tokens = [self.ids.start] + chunk.tokens + [self.ids.end] + [self.ids.pad] * padding
        return PromptChunk(tokens, [1.0] + chunk.multipliers + [1.0] * (padding + 1),
                           [(position + 1, embedding) for position, embedding in chunk.fixes])

    def chunk_line(self, line: str) -> tuple[list[PromptChunk], int]:
        """(chunks, token count) for one prompt."""
        parsed = parse_weighted_text(line, self.emphasis)
        texts = [text for text, _ in parsed]
        token_lists = self.tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"] if texts else []
        chunks: list[PromptChunk] = []
        chunk = PromptChunk()
        token_count = 0
        last_comma = -1

        def close_chunk(is_last: bool = False):
            nonlocal chunk, token_count, last_comma
            token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
            chunks.append(self._close(chunk))
            chunk = PromptChunk()
            last_comma = -1

        for tokens, (text, weight) in zip(token_lists, parsed):
            if text == "BREAK" and weight == -1:
                close_chunk()
                continue
            position = 0
            while position < len(tokens):
                token = tokens[position]
                embedding, name_length = (self.embeddings.find_embedding_at_position(tokens, position)
                                          if self.embeddings is not None else (None, None))
                if embedding is not None:
                    # as A1111: the embedding's vectors stay in one chunk, in place of its name's tokens
                    count = int(embedding.vectors)
                    if len(chunk.tokens) + count > CHUNK_LENGTH:
                        close_chunk()
                    chunk.fixes.append((len(chunk.tokens), embedding))
                    chunk.tokens += [0] * count
                    chunk.multipliers += [1.0 if self.emphasis == "Ignore" else weight] * count
                    position += name_length
                    continue
                position += 1
                if token == self.ids.comma:
                    last_comma = len(chunk.tokens)
                elif (self.comma_padding_backtrack and len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                      and len(chunk.tokens) - last_comma <= self.comma_padding_backtrack):
                    split_at = last_comma + 1
                    moved = PromptChunk(chunk.tokens[split_at:], chunk.multipliers[split_at:],
                                        [(at - split_at, e) for at, e in chunk.fixes if at >= split_at])
                    chunk.tokens, chunk.multipliers = chunk.tokens[:split_at], chunk.multipliers[:split_at]
                    chunk.fixes = [(at, e) for at, e in chunk.fixes if at < split_at]
                    close_chunk()
                    chunk = moved
                if len(chunk.tokens) == CHUNK_LENGTH:
                    close_chunk()
                chunk.tokens.append(token)
                chunk.multipliers.append(1.0 if self.emphasis == "Ignore" else weight)
        if chunk.tokens or not chunks:
            close_chunk(is_last=True)
        return chunks, token_count

    def chunk_batch(self, lines: list[str]) -> list[list[PromptChunk]]:
        """Per chunk index, one chunk per prompt (short prompts padded with empty chunks)."""
        per_line = [self.chunk_line(line)[0] for line in lines]
        count = max(len(chunks) for chunks in per_line)
        return [[chunks[i] if i < len(chunks) else self.empty_chunk() for chunks in per_line] for i in range(count)]


def _final_layer_norm(encoder):
    inner = getattr(encoder, "text_model", encoder)
    return inner.final_layer_norm


@contextlib.contextmanager
def _embeddings_placed(spec, chunk_batch: list[PromptChunk]):
    """While the encoder runs, its token embedding layer puts each chunk's textual inversion vectors at their
    positions (A1111's EmbeddingsWithFixes, as a forward hook)."""
    if not any(chunk.fixes for chunk in chunk_batch):
        yield
        return

    def place(module, inputs, output):
        output = output.clone()
        for row, chunk in enumerate(chunk_batch):
            for position, embedding in chunk.fixes:
                vectors = embedding.vectors_for(spec.embedding_key).to(output.device, output.dtype)
                count = min(vectors.shape[0], output.shape[1] - position)
                output[row, position:position + count] = vectors[:count]
        return output

    layer = spec.encoder.get_input_embeddings()
    handle = layer.register_forward_hook(place)
    try:
        yield
    finally:
        handle.remove()


@dataclass
class EncoderSpec:
    """How one text encoder's output is taken: layer, final norm, and whether it is the pooled source."""

    encoder: torch.nn.Module
    ids: TokenIds
    penultimate: bool = False
    honours_clip_skip: bool = True
    final_norm: bool = True
    pooled: bool = False
    embedding_key: str | None = None
    """which vectors of an SDXL textual inversion embedding are this encoder's ("clip_l", "clip_g")"""


class TextConditioner:
    """Encodes prompts with one or two CLIP encoders (SDXL concatenates both), returning hidden states + pooled."""

    def __init__(self, tokenizer, specs: list[EncoderSpec], embeddings=None):
        self.tokenizer = tokenizer
        self.specs = specs
        self.embeddings = embeddings
        """textual inversion embeddings usable with this model (an EmbeddingDatabase), or None"""

    def _encode_chunk(self, spec: EncoderSpec, chunk_batch: list[PromptChunk], clip_skip: int, emphasis: str):
        device = next(spec.encoder.parameters()).device
        tokens = torch.tensor([c.tokens for c in chunk_batch], device=device)
        with _embeddings_placed(spec, chunk_batch):
            outputs = spec.encoder(input_ids=tokens, output_hidden_states=True)
        if spec.penultimate:
            hidden = outputs.hidden_states[-2]
        elif clip_skip > 1 and spec.honours_clip_skip:
            hidden = outputs.hidden_states[-clip_skip]
        else:
            hidden = outputs.hidden_states[-1]
        if spec.final_norm and not spec.penultimate:
            hidden = _final_layer_norm(spec.encoder)(hidden)
        if emphasis in ("Original", "No norm"):
            multipliers = torch.tensor([c.multipliers for c in chunk_batch], device=hidden.device, dtype=hidden.dtype)
            original_mean = hidden.mean()
            hidden = hidden * multipliers.unsqueeze(-1)
            if emphasis == "Original":
                hidden = hidden * (original_mean / hidden.mean())
        pooled = getattr(outputs, "text_embeds", None) if spec.pooled else None
        return hidden, pooled

    @torch.no_grad()
    def encode(self, lines: list[str], clip_skip: int = 1, emphasis: str = "Original",
               comma_padding_backtrack: int = 20) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden_per_encoder = []
        pooled = None
        for spec in self.specs:
            chunker = PromptChunker(self.tokenizer, spec.ids, comma_padding_backtrack, emphasis, self.embeddings)
            chunk_hiddens = []
            for index, chunk_batch in enumerate(chunker.chunk_batch(lines)):
                hidden, chunk_pooled = self._encode_chunk(spec, chunk_batch, clip_skip, emphasis)
                chunk_hiddens.append(hidden)
                if index == 0 and chunk_pooled is not None:
                    pooled = chunk_pooled
            hidden_per_encoder.append(torch.cat(chunk_hiddens, dim=1))
        return torch.cat(hidden_per_encoder, dim=-1), pooled
