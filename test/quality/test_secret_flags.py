"""Passwords given on the command line are never shown: not in GET /sdapi/v1/cmd-flags, not in the console."""

import argparse

import pytest

from modules.secret_flags import MASK, SECRET_FLAGS, masked_argv, masked_flags


def test_set_secret_flags_are_masked_and_the_rest_kept():
    flags = argparse.Namespace(api_auth="alice:pw", gradio_auth=None, port=7860, listen=False)
    assert masked_flags(flags) == {"api_auth": MASK, "gradio_auth": None, "port": 7860, "listen": False}
    assert flags.api_auth == "alice:pw", "the parsed flags themselves are left alone"


@pytest.mark.parametrize(("argv", "expected"), [
    (["--api-auth", "a:b", "--port", "1"], ["--api-auth", MASK, "--port", "1"]),
    (["--gradio-auth=a:b,c:d", "--listen"], [f"--gradio-auth={MASK}", "--listen"]),
    (["--api-auth", "--gradio-auth"], ["--api-auth", MASK]),
    (["--api", "--api-log", "--port=1"], ["--api", "--api-log", "--port=1"]),
    (["--gradio-auth-path", "users.txt"], ["--gradio-auth-path", "users.txt"]),
    (["--api-au", "a:b", "--api-auth-", "x"], ["--api-au", MASK, "--api-auth-", "x"]),
    (["--api-a=a:b", "--gradio-auth-p", "users.txt"], [f"--api-a={MASK}", "--gradio-auth-p", "users.txt"]),
    (["--api", "--listen", "--gradio-a", "a:b"], ["--api", "--listen", "--gradio-a", "a:b"]),
])
def test_secret_values_are_masked_in_the_arguments_printed_at_start(argv, expected):
    assert masked_argv(argv) == expected


def test_every_abbreviation_argparse_reads_as_a_secret_flag_is_masked():
    from modules import cmd_args

    parser = argparse.ArgumentParser(parents=[cmd_args.parser], add_help=False, conflict_handler="resolve")
    for flag in SECRET_FLAGS.values():
        for end in range(len("--a"), len(flag) + 1):
            typed = flag[:end]
            try:
                parsed = parser.parse_args([typed, "a:b"])
            except SystemExit:
                parsed = None
            read_as_secret = parsed is not None and getattr(parsed, flag[2:].replace("-", "_")) == "a:b"
            assert (masked_argv([typed, "a:b"]) == [typed, MASK]) == read_as_secret, typed
