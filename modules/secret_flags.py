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


def masked_argv(argv: list[str]) -> list[str]:
    """argv with the value of each secret flag (`--api-auth VALUE` or `--api-auth=VALUE`) replaced by MASK."""
    masked, hide_next = [], False
    for argument in argv:
        flag, equals, _ = argument.partition("=")
        if hide_next:
            masked.append(MASK)
        elif equals and flag in SECRET_FLAGS.values():
            masked.append(f"{flag}={MASK}")
        else:
            masked.append(argument)
        hide_next = not hide_next and argument in SECRET_FLAGS.values()
    return masked
