"""Filesystem locations, resolved before anything else is imported (A1111's paths_internal)."""

import argparse
import os
import sys

script_path = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

_pre_parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
_pre_parser.add_argument("--data-dir", type=str, default=os.path.dirname(os.path.realpath(__file__ + "/..")))
_pre_parser.add_argument("--models-dir", type=str, default=None)
_pre_args, _ = _pre_parser.parse_known_args(sys.argv[1:])

data_path = os.path.realpath(os.environ.get("SERENA_DATA_DIR") or _pre_args.data_dir)
models_path = os.path.realpath(_pre_args.models_dir) if _pre_args.models_dir else os.path.join(data_path, "models")
extensions_dir = os.path.join(data_path, "extensions")
extensions_builtin_dir = os.path.join(script_path, "extensions-builtin")
configs_path = os.path.join(script_path, "configs")
diffusers_configs_path = os.path.join(configs_path, "diffusers")
tokenizer_path = os.path.join(configs_path, "clip-tokenizer")
embedded_models_path = os.path.join(script_path, "models")
default_output_dir = os.path.join(data_path, "outputs")


def resolve_data_relative(path: str) -> str:
    """Relative option paths (outdir_*, styles.csv, ...) live under the data dir, as in A1111 >= 1.6."""
    return path if os.path.isabs(path) else os.path.join(data_path, path)
