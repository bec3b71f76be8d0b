"""M18 (flags) against the real server: A1111's CI launch line starts it; every A1111 1.10 flag is accepted; the
ones that change nothing here are named once at start-up and marked in --help; --dump-sysinfo writes its file into
the data dir and exits; --skip-load-model-at-start starts without a model and the first generation loads it;
--loglevel and --vae-path are checked."""

import json
import os
import subprocess
import sys

from modules import cmd_args, flag_effects
from test.conftest import REPO_ROOT
from test.smoke.api_helpers import TINY, ApiClient
from test.smoke.conftest import start_server

A1111_CI_LINE = ["--skip-torch-cuda-test", "--test-server", "--do-not-download-clip", "--no-half",
                 "--disable-opt-split-attention", "--use-cpu", "all", "--api-server-stop"]


# Every flag A1111 (1.x up to 1.10) parses, by name (the project's reference of A1111's surfaces lists them).
A1111_FLAGS = {
    "--add-stop-route", "--administrator", "--allow-code", "--always-batch-cond-uncond", "--api", "--api-auth",
    "--api-log", "--api-server-stop", "--autolaunch", "--bsrgan-models-path", "--ckpt", "--ckpt-dir",
    "--clip-models-path", "--codeformer-models-path", "--config", "--cors-allow-origins",
    "--cors-allow-origins-regex", "--dat-models-path", "--data-dir", "--deepdanbooru", "--device-id",
    "--disable-all-extensions", "--disable-console-progressbars", "--disable-extra-extensions",
    "--disable-model-loading-ram-optimization", "--disable-nan-check", "--disable-opt-split-attention",
    "--disable-safe-unpickle", "--disable-tls-verify", "--do-not-download-clip", "--dump-sysinfo",
    "--embeddings-dir", "--enable-console-prompts", "--enable-insecure-extension-access", "--esrgan-models-path",
    "--exit", "--filenames-max-length", "--force-enable-xformers", "--freeze-settings", "--gfpgan-dir",
    "--gfpgan-model", "--gfpgan-models-path", "--gradio-allowed-path", "--gradio-auth", "--gradio-auth-path",
    "--gradio-debug", "--gradio-img2img-tool", "--gradio-inpaint-tool", "--gradio-queue", "--hide-ui-dir-config",
    "--hypernetwork-dir", "--ldsr-models-path", "--listen", "--localizations-dir", "--log-startup", "--loglevel",
    "--lora-dir", "--lowram", "--lowvram", "--lyco-dir-backcompat", "--max-batch-count", "--medvram",
    "--medvram-sdxl", "--models-dir", "--ngrok", "--ngrok-options", "--ngrok-region", "--no-download-sd-model",
    "--no-gradio-queue", "--no-half", "--no-half-vae", "--no-hashing", "--no-progressbar-hiding",
    "--no-prompt-history", "--no-tests", "--nowebui", "--opt-channelslast", "--opt-sdp-attention",
    "--opt-sdp-no-mem-attention", "--opt-split-attention", "--opt-split-attention-invokeai",
    "--opt-split-attention-v1", "--opt-sub-quad-attention", "--port", "--precision", "--realesrgan-models-path",
    "--reinstall-torch", "--reinstall-xformers", "--scunet-models-path", "--server-name", "--share",
    "--show-negative-prompt", "--skip-install", "--skip-load-model-at-start", "--skip-prepare-environment",
    "--skip-python-version-check", "--skip-torch-cuda-test", "--skip-version-check", "--styles-file",
    "--sub-quad-chunk-threshold", "--sub-quad-kv-chunk-size", "--sub-quad-q-chunk-size", "--subpath",
    "--swinir-models-path", "--test-server", "--tests", "--textual-inversion-templates-dir", "--theme",
    "--timeout-keep-alive", "--tls-certfile", "--tls-keyfile", "--ui-config-file", "--ui-debug-mode",
    "--ui-settings-file", "--unix-filenames-sanitization", "--unload-gfpgan", "--upcast-sampling",
    "--update-all-extensions", "--update-check", "--use-cpu", "--use-ipex", "--use-textbox-seed", "--vae-dir",
    "--vae-path", "--xformers", "--xformers-flash-attention", "-f",
}


def test_every_a1111_flag_is_accepted_and_each_no_effect_flag_is_one():
    known = {name for action in cmd_args.parser._actions for name in action.option_strings}
    assert A1111_FLAGS - known == set()
    assert set(flag_effects.NO_EFFECT) <= known


def test_help_marks_the_flags_that_change_nothing_here():
    shown = subprocess.run([sys.executable, "webui.py", "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    line = next(line for line in shown.stdout.splitlines() if line.strip().startswith("--xformers "))
    assert "[no effect here: attention runs on PyTorch's scaled_dot_product_attention" in line
    assert "[no effect here" not in next(line for line in shown.stdout.splitlines()
                                         if line.strip().startswith("--no-half "))


def test_a1111_ci_launch_line_starts_the_server_and_names_what_changes_nothing(tiny_checkpoint, tmp_path):
    server = start_server(tiny_checkpoint, str(tmp_path / "data"), A1111_CI_LINE)
    try:
        assert ApiClient(server.url).post("txt2img", TINY).status_code == 200
    finally:
        server.stop()
    named = [line for line in server.log().splitlines() if line.startswith("Flags with no effect here: ")]
    assert len(named) == 1
    for flag in ("--skip-torch-cuda-test", "--test-server", "--do-not-download-clip", "--disable-opt-split-attention"):
        assert flag in named[0]
    assert "--no-half " not in named[0] and "--api-server-stop" not in named[0]
    assert "Startup time: " in server.log() and "Model loaded in " in server.log()


def test_dump_sysinfo_writes_into_the_data_dir_and_exits(tmp_path):
    data_dir = tmp_path / "data"
    done = subprocess.run([sys.executable, "webui.py", "--data-dir", str(data_dir), "--dump-sysinfo", "--api-auth",
                           "alice:very-secret"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={key: value for key, value in os.environ.items() if key != "SERENA_DATA_DIR"})
    assert done.returncode == 0, done.stderr
    written = list(data_dir.glob("sysinfo-*.json"))
    assert len(written) == 1 and f"Sysinfo saved as {written[0]}" in done.stdout
    info = json.loads(written[0].read_text())
    assert info["packages"]["torch"] and info["flags"]["dump_sysinfo"] is True
    assert "very-secret" not in written[0].read_text()
    assert not (data_dir / "jobs.sqlite3").exists(), "no server was started"


def test_skip_load_model_at_start_loads_it_on_the_first_generation(tiny_checkpoint, tmp_path):
    server = start_server(tiny_checkpoint, str(tmp_path / "data"), ["--skip-load-model-at-start"])
    try:
        assert "No model loaded at start" in server.log()
        assert "Model loaded" not in server.log()
        response = ApiClient(server.url).post("txt2img", TINY)
        assert response.status_code == 200, response.text
    finally:
        server.stop()
    assert "Model loaded in " in server.log()


def test_a_log_level_that_does_not_exist_stops_the_start_naming_the_flag():
    refused = subprocess.run([sys.executable, "webui.py", "--loglevel", "LOUD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "--loglevel: expected one of DEBUG" in refused.stderr


def test_a_vae_path_that_names_no_vae_file_stops_the_start_naming_the_flag(tmp_path):
    not_a_vae = tmp_path / "notes.txt"
    not_a_vae.write_text("x")
    for given, said in ((str(tmp_path / "missing.safetensors"), "no such file"), (str(not_a_vae), "is not a VAE file")):
        refused = subprocess.run([sys.executable, "webui.py", "--vae-path", given], cwd=REPO_ROOT, capture_output=True,
                                 text=True, timeout=120)
        assert refused.returncode == 2 and "argument --vae-path: " in refused.stderr and said in refused.stderr
