"""File hashes with a cache.json keyed by path, mtime and size (A1111's hashes module names)."""

import hashlib
import json
import os
import threading

from modules import paths_internal

cache_filename = os.path.join(paths_internal.data_path, "cache.json")
_cache_lock = threading.Lock()
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


def _stamp(filename: str) -> dict:
    stat = os.stat(filename)
    return {"mtime": stat.st_mtime, "size": stat.st_size}


def sha256_from_cache(filename: str) -> str | None:
    entry = _read_cache().get("hashes", {}).get(os.path.realpath(filename))
    if not entry:
        return None
    stamp = _stamp(filename)
    if entry.get("mtime") != stamp["mtime"] or entry.get("size") != stamp["size"]:
        return None
    return entry.get("sha256")


def sha256(filename: str) -> str:
    """The file's sha256, computed once and remembered in cache.json until the file changes."""
    cached = sha256_from_cache(filename)
    if cached:
        return cached
    value = calculate_sha256(filename)
    with _cache_lock:
        data = _read_cache()
        data.setdefault("hashes", {})[os.path.realpath(filename)] = {**_stamp(filename), "sha256": value}
        _write_cache(data)
    return value

