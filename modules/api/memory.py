"""GET /sdapi/v1/memory: this process's RAM use and, when CUDA is there, its memory statistics."""

import os

import psutil
import torch


def ram_stats() -> dict:
    """used = this process's resident memory; free = total - used (A1111's definitions)."""
    try:
        used = psutil.Process(os.getpid()).memory_info().rss
        total = psutil.virtual_memory().total
    except (psutil.Error, OSError) as e:
        return {"error": str(e)}
    return {"free": total - used, "used": used, "total": total}


def _current_and_peak(stats: dict, name: str) -> dict:
    return {"current": stats[f"{name}.all.current"], "peak": stats[f"{name}.all.peak"]}


def cuda_stats(device=None) -> dict:
    if not torch.cuda.is_available():
        return {"error": "unavailable"}
    try:
        free, total = torch.cuda.mem_get_info(device)
        stats = torch.cuda.memory_stats(device)
        return {
            "system": {"free": free, "used": total - free, "total": total},
            "active": _current_and_peak(stats, "active_bytes"),
            "allocated": _current_and_peak(stats, "allocated_bytes"),
            "reserved": _current_and_peak(stats, "reserved_bytes"),
            "inactive": _current_and_peak(stats, "inactive_split_bytes"),
            "events": {"retries": stats.get("num_alloc_retries", 0), "oom": stats.get("num_ooms", 0)},
        }
    except (RuntimeError, KeyError) as e:
        return {"error": str(e)}
