"""M14: the real `python cli.py` in a subprocess on the demo model: each subcommand, bad flags, --server against a
live server, the infotext round trip, Ctrl+C mid-generation, and the golden invariant: the same request through
the command line and through /sdapi/v1/txt2img gives byte-identical PNGs under the same file names."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from test.conftest import REPO_ROOT
from test.smoke.api_helpers import ApiClient
from test.smoke.conftest import _server_env

DEMO = "serena-demo-shapes"
SMALL = ["--width", "64", "--height", "64", "--steps", "3"]
RUN_TIMEOUT_S = 300


def cli(*args: str, data_dir: str | None, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    data = ["--data-dir", data_dir] if data_dir else []
    return subprocess.run([sys.executable, "cli.py", *args, *data], cwd=REPO_ROOT, env=_server_env(),
                          capture_output=True, text=True, timeout=timeout)


def saved(data_dir: str) -> dict[str, bytes]:
    """Files under outputs/, by path relative to it."""
    root = os.path.join(data_dir, "outputs")
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as file:
                found[os.path.relpath(os.path.join(folder, name), root)] = file.read()
    return found


@pytest.fixture(scope="module")
def cli_server(server_factory):
    return server_factory()


def test_txt2img_gives_the_same_png_bytes_and_file_names_as_the_api(cli_server, tmp_path):
    data_dir = str(tmp_path / "cli-data")
    done = cli("txt2img", "--prompt", "a red circle", "--negative-prompt", "blue", "--seed", "77", "--sampler",
               "Euler a", "--cfg-scale", "6.5", "--batch-size", "2", "--checkpoint", DEMO, *SMALL, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    api = ApiClient(cli_server.url)
    api.ok("POST", "txt2img", {"prompt": "a red circle", "negative_prompt": "blue", "seed": 77,
                               "sampler_name": "Euler a", "cfg_scale": 6.5, "batch_size": 2, "width": 64, "height": 64,
                               "steps": 3, "override_settings": {"sd_model_checkpoint": DEMO}, "save_images": True})
    from_cli, from_api = saved(data_dir), saved(cli_server.data_dir)
    assert len([name for name in from_cli if name.startswith("txt2img-images")]) == 2
    assert len([name for name in from_cli if name.startswith("txt2img-grids")]) == 1
    assert sorted(from_cli) == sorted(from_api)
    assert from_cli == from_api
    printed = done.stdout.split()
    assert sorted(os.path.relpath(path, os.path.join(data_dir, "outputs")) for path in printed) == sorted(from_cli)


def test_img2img_with_a_mask_and_run_of_a_jsonl_file(tmp_path):
    data_dir = str(tmp_path / "data")
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(init)
    Image.new("L", (64, 64), 255).save(mask)
    done = cli("img2img", "--init-image", str(init), "--mask", str(mask), "--denoising-strength", "0.6", "--seed", "5",
               *SMALL, "--json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["jobs"][0]
    assert report["state"] == "succeeded" and report["seeds"] == [5]
    assert "Denoising strength: 0.6" in report["infotexts"][0]
    assert [os.path.basename(os.path.dirname(os.path.dirname(path))) for path in report["saved_files"]] == \
        ["img2img-images"]

    bodies = tmp_path / "jobs.jsonl"
    bodies.write_text(json.dumps({"prompt": "one", "seed": 1, "width": 64, "height": 64, "steps": 2}) + "\n\n" +
                      json.dumps({"prompt": "two", "seed": 2, "width": 64, "height": 64, "steps": 2, "n_iter": 2,
                                  "junk": True}) + "\n")
    done = cli("run", str(bodies), "--json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    jobs = json.loads(done.stdout)["jobs"]
    assert [(job["source"], job["seeds"]) for job in jobs] == [("jobs.jsonl:1", [1]), ("jobs.jsonl:3", [2, 3])]
    assert "jobs.jsonl:3: ignored (not fields of A1111's txt2img request): junk" in done.stderr
    assert all(os.path.isfile(path) for job in jobs for path in job["saved_files"])


def test_infotext_regenerates_the_same_image_from_a_png_and_from_pasted_text(tmp_path):
    data_dir = str(tmp_path / "data")
    elsewhere = tmp_path / "elsewhere"
    first = cli("txt2img", "--prompt", "a square", "--seed", "31", "--sampler", "DPM++ 2M", "--scheduler", "Karras",
                *SMALL, "--json", "--out", str(elsewhere), data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    original = json.loads(first.stdout)["jobs"][0]
    assert original["saved_files"][0].startswith(str(elsewhere) + os.sep)  # --out outside the data dir
    again = cli("infotext", original["saved_files"][0], "--json", data_dir=data_dir)
    assert again.returncode == 0, again.stderr
    pasted = cli("infotext", original["infotexts"][0], "--json", data_dir=data_dir)
    assert pasted.returncode == 0, pasted.stderr
    images = [Image.open(json.loads(done.stdout)["jobs"][0]["saved_files"][0]) for done in (first, again, pasted)]
    assert images[0].info["parameters"] == images[1].info["parameters"] == images[2].info["parameters"]
    assert images[0].tobytes() == images[1].tobytes() == images[2].tobytes()

    changed = cli("infotext", original["infotexts"][0], "--seed", "32", "--json", data_dir=data_dir)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["jobs"][0]["seeds"] == [32]


@pytest.mark.parametrize(("args", "message"), [
    (["txt2img", "--steps", "0"], "--steps: Input should be greater than or equal to 1"),
    (["txt2img", "--sampler", "Nope"], "--sampler: sampler not found: 'Nope'"),
    (["txt2img", "--checkpoint", "nope"], "--checkpoint: checkpoint not found: 'nope'"),
    (["txt2img", "--override", "CLIP_stop_at_last_layers=x"], "--override CLIP_stop_at_last_layers: bad value"),
])
def test_a_request_the_api_would_refuse_exits_2_naming_the_flag_and_generates_nothing(tmp_path, args, message):
    data_dir = str(tmp_path / "data")
    done = cli(*args, data_dir=data_dir)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert done.stdout == ""
    assert saved(data_dir) == {}


def test_a_bad_line_in_a_jsonl_file_refuses_the_whole_file(tmp_path):
    bodies = tmp_path / "jobs.jsonl"
    bodies.write_text('{"prompt": "fine", "steps": 2, "width": 64, "height": 64}\n{"prompt": "x", "steps": -3}\n')
    data_dir = str(tmp_path / "data")
    done = cli("run", str(bodies), data_dir=data_dir)
    assert done.returncode == 2
    assert "jobs.jsonl:2: steps: Input should be greater than or equal to 1" in done.stderr
    assert saved(data_dir) == {}


def test_server_mode_submits_to_the_running_server_and_manages_its_jobs(cli_server, tmp_path):
    url = ["--server", cli_server.url]
    out = tmp_path / "here"
    done = cli("txt2img", *url, "--prompt", "on the server", "--seed", "8", *SMALL, "--out", str(out), "--json",
               data_dir=None)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["jobs"][0]
    assert report["state"] == "succeeded" and report["seeds"] == [8]
    assert all(path.startswith(cli_server.data_dir) for path in report["saved_files"])
    with open(report["saved_files"][0], "rb") as on_server, open(report["written_files"][0], "rb") as here:
        assert Image.open(on_server).tobytes() == Image.open(here).tobytes()
    assert os.path.dirname(report["written_files"][0]) == str(out)

    listed = cli("jobs", "list", *url, "--json", data_dir=None)
    assert listed.returncode == 0, listed.stderr
    assert report["job"] in [job["id"] for job in json.loads(listed.stdout)["jobs"]]
    shown = cli("jobs", "show", report["job"], *url, "--json", data_dir=None)
    assert json.loads(shown.stdout)["jobs"][0]["state"] == "succeeded"
    waited = cli("jobs", "wait", report["job"], *url, data_dir=None)
    assert waited.returncode == 0 and "succeeded" in waited.stdout
    cancelled = cli("jobs", "cancel", report["job"], *url, data_dir=None)
    assert cancelled.returncode == 2 and "succeeded" in cancelled.stderr
    refused = cli("txt2img", *url, "--steps", "0", data_dir=None)
    assert refused.returncode == 2 and "--steps: " in refused.stderr
    unknown = cli("jobs", "show", "task(nope)", *url, data_dir=None)
    assert unknown.returncode == 2 and "no job" in unknown.stderr
    down = cli("jobs", "list", "--server", "http://127.0.0.1:9", data_dir=None)
    assert down.returncode == 1 and "cannot reach" in down.stderr

    bodies = tmp_path / "half-bad.jsonl"
    bodies.write_text(json.dumps({"prompt": "long", "steps": 150, "width": 64, "height": 64}) + "\n" +
                      json.dumps({"prompt": "bad", "steps": -3}) + "\n")
    refused = cli("run", str(bodies), *url, data_dir=None)
    assert refused.returncode == 2 and "half-bad.jsonl:2: steps: " in refused.stderr, refused.stderr
    newest = json.loads(cli("jobs", "list", *url, "--json", "--limit", "1", data_dir=None).stdout)["jobs"][0]
    assert newest["state"] == "cancelled", "a file runs whole or not at all"
    unknown_sampler = cli("txt2img", *url, "--sampler", "Nope", data_dir=None)
    assert unknown_sampler.returncode == 2 and "--sampler: sampler not found" in unknown_sampler.stderr


def _ctrl_c_as_at_a_terminal():
    """The child takes SIGINT as a program started from a terminal does, also when these tests run as a shell's
    background job (which starts with SIGINT ignored, and passes that on)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_mid_generation_cancels_cleanly_and_exits_3(tmp_path):
    data_dir = str(tmp_path / "data")
    process = subprocess.Popen([sys.executable, "cli.py", "txt2img", "--data-dir", data_dir, "--steps", "150",
                                "--width", "64", "--height", "64", "--n-iter", "3", "--seed", "4"], cwd=REPO_ROOT,
                               env=_server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_as_at_a_terminal)
    lines = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "txt2img: " in line and "(step " in line:  # sampling has begun
            break
        assert line, "".join(lines)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, "".join(lines) + stderr
    assert "Interrupted: cancelling" in stderr
    files = saved(data_dir)
    assert not [name for name in files if not name.endswith(".png")], files
    for name in files:
        with Image.open(os.path.join(data_dir, "outputs", name)) as image:
            image.load()
            assert image.info["parameters"]
    assert len(files) < 3, "the run stopped before the end"


def test_help_lists_the_subcommands(tmp_path):
    done = cli("--help", data_dir=str(tmp_path))
    assert done.returncode == 0
    for command in ("txt2img", "img2img", "run", "infotext", "jobs"):
        assert command in done.stdout


def test_webui_sh_cli_runs_the_command_line_in_its_venv(tmp_path):
    env = {**_server_env(), "COMMANDLINE_ARGS": "--listen --api"}
    done = subprocess.run(["bash", "webui.sh", "cli", "run", "--help"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cli.py run")
