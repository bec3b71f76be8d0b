"""Command-line flags that hold secrets (passwords), and their values hidden wherever flags are shown."""

SECRET_FLAGS = {"gradio_auth": "--gradio-auth", "api_auth": "--api-auth"}
"""argparse destination -> the flag as typed"""
MASK = "********"


def masked_flags(cmd_opts) -> dict:
    """The parsed flags by name, each secret one that is set replaced by MASK (GET /sdapi/v1/cmd-flags)."""
    flags = dict(vars(cmd_opts))
    for name in SECRET_FLAGS:
        if flags.get(name):
            flags[name] = MASK
    return flags


def _known_flags() -> list[str]:
    from modules import cmd_args

    return [flag for action in cmd_args.parser._actions for flag in action.option_strings]


def is_secret_flag(typed: str, known_flags: list[str]) -> bool:
    """Whether argparse reads `typed` as a secret flag: the flag itself, or a prefix of it and of no other flag."""
    if typed in known_flags:
        return typed in SECRET_FLAGS.values()
    matches = [flag for flag in known_flags if flag.startswith(typed)] if typed.startswith("--") else []
    return len(matches) == 1 and matches[0] in SECRET_FLAGS.values()


def masked_argv(argv: list[str], known_flags: list[str] | None = None) -> list[str]:
    """argv with the value of each secret flag (`--api-auth VALUE`, `--api-auth=VALUE`, or an abbreviation argparse
    accepts, `--api-au VALUE`) replaced by MASK; known_flags: every flag the parser has (default: the webui's)."""
    known_flags = known_flags if known_flags is not None else _known_flags()
    masked, hide_next = [], False
    for argument in argv:
        flag, equals, _ = argument.partition("=")
        if hide_next:
            masked.append(MASK)
        elif equals and is_secret_flag(flag, known_flags):
            masked.append(f"{flag}={MASK}")
        else:
            masked.append(argument)
        hide_next = not hide_next and not equals and is_secret_flag(argument, known_flags)
    return masked
