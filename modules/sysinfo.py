"""--dump-sysinfo: what A1111 users attach to a bug report (platform, Python, torch and devices, the pinned
packages as installed, the flags with secrets masked, the extensions), written as JSON into the data dir."""

import datetime
import importlib.metadata
import json
import os
import platform
import re
import sys

import psutil

from modules import paths_internal, secret_flags


def pinned_packages(requirements_file: str) -> dict[str, str | None]:
    """Each package requirements_versions.txt pins, with the version installed (None: not installed)."""
    installed = {}
    with open(requirements_file, encoding="utf8") as file:
        for line in file:
            name = re.split(r"[=<>!~\[;\s]", line.strip(), maxsplit=1)[0]
            if name and not name.startswith("#"):
                try:
                    installed[name] = importlib.metadata.version(name)
                except importlib.metadata.PackageNotFoundError:
                    installed[name] = None
    return installed


def collect(cmd_opts) -> dict:
    import torch

    extensions_dir = paths_internal.extensions_dir
    return {
        "platform": platform.platform(),
        "python": sys.version,
        "cpu": {"machine": platform.machine(), "processor": platform.processor(), "count": os.cpu_count()},
        "ram_bytes": psutil.virtual_memory().total,
        "torch": torch.__version__,
        "cuda": {"available": torch.cuda.is_available(), "version": torch.version.cuda,
                 "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]},
        "packages": pinned_packages(os.path.join(paths_internal.script_path, "requirements_versions.txt")),
        "flags": secret_flags.masked_flags(cmd_opts),
        "argv": secret_flags.masked_argv(sys.argv[1:]),
        "extensions": sorted(os.listdir(extensions_dir)) if os.path.isdir(extensions_dir) else [],
        "data_dir": paths_internal.data_path,
    }


def dump(cmd_opts) -> str:
    """Writes sysinfo-<UTC time>.json into the data dir; returns its path."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d-%H-%M")
    path = os.path.join(paths_internal.data_path, f"sysinfo-{stamp}.json")
    os.makedirs(paths_internal.data_path, exist_ok=True)
    with open(path, "w", encoding="utf8") as file:
        json.dump(collect(cmd_opts), file, indent=2, default=str)
    return path
