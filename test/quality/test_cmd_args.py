import os
import subprocess
import sys

import pytest

from modules import cmd_args, paths_internal, shared_cmd_options

REFERENCE_FLAGS = [
    "--api", "--nowebui", "--listen", "--port", "--server-name", "--subpath", "--api-auth", "--api-log",
    "--api-server-stop", "--cors-allow-origins", "--cors-allow-origins-regex", "--tls-keyfile", "--tls-certfile",
    "--gradio-auth", "--ckpt", "--ckpt-dir", "--vae-dir", "--lora-dir", "--data-dir", "--ui-settings-file",
    "--freeze-settings", "--hide-ui-dir-config", "--no-half", "--no-half-vae", "--precision", "--use-cpu",
    "--lowvram", "--medvram", "--opt-sdp-attention", "--skip-prepare-environment", "--skip-install",
    "--skip-torch-cuda-test", "--no-download-sd-model", "--disable-all-extensions", "--disable-extra-extensions",
    "--enable-insecure-extension-access", "--test-server", "--exit", "--models-dir",
]


def test_every_reference_flag_exists():
    known = set(cmd_args.parser._option_string_actions)
    assert [flag for flag in REFERENCE_FLAGS if flag not in known] == []


def test_defaults():
    opts = cmd_args.parser.parse_args([])
    assert opts.port is None
    assert opts.listen is False and opts.api is False and opts.nowebui is False
    assert opts.precision == "autocast"
    assert opts.data_dir == paths_internal.script_path
    assert opts.ui_settings_file == os.path.join(paths_internal.data_path, "config.json")
    assert opts.lora_dir == os.path.join(paths_internal.models_path, "Lora")
    assert opts.use_cpu == []
    assert opts.styles_file == []
    assert (opts.ckpt, opts.ckpt_dir, opts.vae_dir, opts.api_auth, opts.gradio_auth) == (None,) * 5


def test_values():
    opts = cmd_args.parser.parse_args(["--port", "9000", "--precision", "full", "--use-cpu", "All", "interrogate",
                                       "--api-auth", "u:p,v:q", "--styles-file", "a.csv", "--styles-file", "b.csv"])
    assert opts.port == 9000
    assert opts.precision == "full"
    assert opts.use_cpu == ["all", "interrogate"]
    assert opts.api_auth == "u:p,v:q"
    assert opts.styles_file == ["a.csv", "b.csv"]


def test_precision_choices_are_enforced():
    with pytest.raises(SystemExit):
        cmd_args.parser.parse_args(["--precision", "half"])


def test_cmd_opts_tolerate_pytest_arguments():
    assert shared_cmd_options.cmd_opts.precision == "autocast"
    assert shared_cmd_options.parser.allow_abbrev is True


def test_unknown_argument_outside_pytest_is_an_error():
    code = "import modules.shared_cmd_options"
    root = os.path.dirname(os.path.dirname(os.path.abspath(cmd_args.__file__)))
    env = {key: value for key, value in os.environ.items() if key != "IGNORE_CMD_ARGS_ERRORS"}
    strict = subprocess.run([sys.executable, "-c", code, "--no-such-flag"], cwd=root, env=env, capture_output=True,
                            text=True, timeout=60)
    assert strict.returncode != 0 and "--no-such-flag" in strict.stderr
    tolerant = subprocess.run([sys.executable, "-c", code, "--no-such-flag", "--co"], cwd=root,
                              env={**env, "IGNORE_CMD_ARGS_ERRORS": "1"}, capture_output=True, text=True, timeout=60)
    assert tolerant.returncode == 0, tolerant.stderr
