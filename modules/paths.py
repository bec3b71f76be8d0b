"""A1111's public path names; everything is defined in paths_internal."""

from modules.paths_internal import (  # noqa: F401
    configs_path,
    data_path,
    default_output_dir,
    diffusers_configs_path,
    embedded_models_path,
    extensions_builtin_dir,
    extensions_dir,
    models_path,
    script_path,
    tokenizer_path,
)
