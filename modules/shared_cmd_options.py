"""Parses the command line into cmd_opts once, at import."""

import argparse
import os
import sys

from modules import cmd_args, extension_preload

parser = cmd_args.parser


def _tolerate_unknown_args() -> bool:
    """Under pytest (or with IGNORE_CMD_ARGS_ERRORS set) argv belongs to someone else."""
    return os.environ.get("IGNORE_CMD_ARGS_ERRORS") is not None or "pytest" in sys.modules


def _parse() -> argparse.Namespace:
    if not _tolerate_unknown_args():
        return parser.parse_args()
    parser.allow_abbrev = False  # a foreign flag such as pytest's --co must not read as an abbreviation of ours
    try:
        return parser.parse_known_args()[0]
    finally:
        parser.allow_abbrev = True


extension_preload.run_preloads(parser)
cmd_opts = _parse()
cmd_opts.webui_is_non_local = any([cmd_opts.share, cmd_opts.listen, cmd_opts.server_name])
cmd_opts.disable_extension_access = cmd_opts.webui_is_non_local and not cmd_opts.enable_insecure_extension_access
