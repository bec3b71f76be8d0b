"""The server's command-line flags a remote worker starts its engine with: every flag set to other than its default
(models folders, precision, hashing, extensions, ...) except those that are the server's own: its secrets, its data
dir (the worker is given it) and the flags that start workers."""

import argparse

SERVER_OWN = frozenset({"data_dir", "ray_address", "ray_workers", "ray_gpus_per_worker", "gradio_auth",
                        "gradio_auth_path", "api_auth", "tls_keyfile", "tls_certfile", "ngrok", "ngrok_options",
                        "device_id", "help"})
"""device_id: Ray gives each worker its own visible GPUs."""


def for_worker(parser: argparse.ArgumentParser, cmd_opts: argparse.Namespace) -> list[str]:
    argv = []
    for action in parser._actions:
        if not action.option_strings or action.dest in SERVER_OWN or not hasattr(cmd_opts, action.dest):
            continue
        value = getattr(cmd_opts, action.dest)
        if value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:
            argv.append(flag)
        elif isinstance(action, argparse._AppendAction):
            argv += [f"{flag}={item}" for item in value]
        elif isinstance(value, list | tuple):
            argv += [flag, *map(str, value)]
        else:
            argv.append(f"{flag}={value}")
    return argv


def for_ray_worker(flags: list[str], gpus_per_worker: float) -> list[str]:
    """A worker given no GPU computes on the CPU: Ray leaves the machine's GPUs visible to it, and it would use one
    that Ray does not count."""
    return [*flags, "--use-cpu", "all"] if gpus_per_worker == 0 else list(flags)
