"""File hashes with a cache.json keyed by path, mtime and size (A1111's hashes module names)."""

import hashlib
import json
import logging
import os
import threading

from modules import paths_internal, shared_cmd_options

cache_filename = os.path.join(paths_internal.data_path, "cache.json")
_cache_lock = threading.Lock()
log = logging.getLogger(__name__)
_BLOCK = 1024 * 1024


def _read_cache() -> dict:
    try:
        with open(cache_filename, encoding="utf8") as file:
            data = json.load(file)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(data: dict) -> None:
    tmp = f"{cache_filename}.tmp"
    with open(tmp, "w", encoding="utf8") as file:
        json.dump(data, file, indent=2)
    os.replace(tmp, cache_filename)


def calculate_sha256(filename: str) -> str:
    digest = hashlib.sha256()
    with open(filename, "rb") as file:
        for block in iter(lambda: file.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def addnet_hash_safetensors(filename: str) -> str:
    """sha256 of a .safetensors file's tensor data, without its JSON header (the "addnet" hash A1111 shows for
    LoRA files, so it stays the same when only the metadata changes)."""
    digest = hashlib.sha256()
    with open(filename, "rb") as file:
        header_length = int.from_bytes(file.read(8), "little")
        file.seek(8 + header_length)
        for block in iter(lambda: file.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(filename: str) -> dict:
    stat = os.stat(filename)
    return {"mtime": stat.st_mtime, "size": stat.st_size}


def sha256_from_cache(filename: str, title: str = "hashes") -> str | None:
    """The remembered hash of the file (under cache section `title`), or None when absent or the file changed."""
    entry = _read_cache().get(title, {}).get(os.path.realpath(filename))
    if not entry:
        return None
    stamp = _stamp(filename)
    if entry.get("mtime") != stamp["mtime"] or entry.get("size") != stamp["size"]:
        return None
    return entry.get("sha256")


def sha256(filename: str, use_addnet_hash: bool = False) -> str | None:
    """The file's sha256 (or its addnet hash), computed once and remembered in cache.json until the file changes;
    with --no-hashing only a remembered one (else None), as A1111."""
    title = "hashes-addnet" if use_addnet_hash else "hashes"
    cached = sha256_from_cache(filename, title)
    if cached:
        return cached
    if shared_cmd_options.cmd_opts.no_hashing:
        return None
    value = addnet_hash_safetensors(filename) if use_addnet_hash else calculate_sha256(filename)
    with _cache_lock:
        data = _read_cache()
        data.setdefault(title, {})[os.path.realpath(filename)] = {**_stamp(filename), "sha256": value}
        try:
            _write_cache(data)
        except OSError as error:  # a read-only data dir: the hash is still right, only not remembered
            log.warning("Could not remember the sha256 of %s in %s: %s", filename, cache_filename, error)
    return value

