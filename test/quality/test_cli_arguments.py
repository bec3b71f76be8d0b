"""M14: the command line's own parts in this process: flags to request fields, files to bodies, refusals that
exit 2 before the engine starts, the progress lines, the report."""

import argparse
import io
import json
import sys

import pytest

from modules.cli import arguments, main, progress, report, request_bodies
from modules.cli.arguments import InputError


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["cli.py"])
    code = main.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("args", "message"), [
    (["txt2img", "--steps", "many"], "argument --steps: invalid int value: 'many'"),
    (["txt2img", "--override", "novalue"], "--override: expected KEY=VALUE"),
    (["txt2img", "--param", "nonsense=1"], "--param nonsense: not a field of A1111's txt2img request"),
    (["txt2img", "--script-args", "[1,"], "--script-args: not JSON"),
    (["img2img"], "--init-image: img2img needs an image to start from"),
    (["img2img", "--init-image", "/no/such.png"], "--init-image: cannot read '/no/such.png'"),
    (["infotext", "   "], "source: empty infotext"),
    (["run", "/no/such.jsonl"], "file: cannot read '/no/such.jsonl'"),
    (["jobs", "list"], "--server: jobs talks to a running server"),
    (["jobs", "list", "--server", "http://127.0.0.1:9", "--api-auth", "nopassword"], "--api-auth: expected USER:"),
    (["paint"], "invalid choice: 'paint'"),
    (["txt2img", "--priority", "5"], "--priority: only with --server"),
    (["txt2img", "--api-auth", "a:b"], "--api-auth: only with --server"),
    (["txt2img", "--server", "127.0.0.1:7860"], "--server: expected http(s)://HOST:PORT"),
    (["txt2img", "--server", "http://127.0.0.1:9", "--data-dir", "/tmp"], "--data-dir: with --server"),
    (["txt2img", "--data-dir", "/dev/null/x"], "--data-dir: cannot use '/dev/null/x' as a folder"),
    (["txt2img", "--out", "/dev/null/x"], "--out: cannot use '/dev/null/x' as a folder"),
    (["txt2img", "--param", "steps=5"], "--param steps: set it with --steps"),
    (["infotext", "/no/such.png"], "source: no such file: '/no/such.png'"),
    ([], "the following arguments are required: command"),
])
def test_bad_input_exits_2_naming_the_flag(monkeypatch, capsys, args, message):
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == arguments.EXIT_BAD_INPUT
    assert message in err and err.startswith("cli.py: error: ")
    assert out == ""


def test_help_exits_0(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "txt2img", "--help")
    assert code == 0 and "--hires-scale" in out and "--denoising-strength" in out


def test_flags_become_exactly_the_fields_they_set():
    args = arguments.build_parser().parse_args([
        "txt2img", "--prompt", "p", "--steps", "9", "--sampler", "Euler a", "--hires", "--hires-scale", "1.5",
        "--checkpoint", "m", "--override", "CLIP_stop_at_last_layers=2", "--override", "sd_vae=None",
        "--styles", "a", "--styles", "b", "--param", "comments={\"k\": 1}", "--script", "s", "--script-args", "[1]",
        "--param", 'override_settings={"CLIP_stop_at_last_layers": 1, "eta_noise_seed_delta": 5}'])
    body = request_bodies.from_flags(args, "txt2img")
    assert body.mode == "txt2img" and body.label == ""
    assert body.fields == {"prompt": "p", "steps": 9, "sampler_name": "Euler a", "enable_hr": True, "hr_scale": 1.5,
                           "override_settings": {"CLIP_stop_at_last_layers": 2, "sd_vae": "None",
                                                 "sd_model_checkpoint": "m", "eta_noise_seed_delta": 5},
                           "styles": ["a", "b"], "comments": {"k": 1}, "script_name": "s", "script_args": [1]}


def test_img2img_reads_its_images_as_base64(tmp_path):
    (tmp_path / "a.png").write_bytes(b"first")
    (tmp_path / "m.png").write_bytes(b"mask")
    args = arguments.build_parser().parse_args(["img2img", "--init-image", str(tmp_path / "a.png"), "--mask",
                                                str(tmp_path / "m.png"), "--mask-blur", "3"])
    body = request_bodies.from_flags(args, "img2img")
    assert body.fields == {"init_images": ["Zmlyc3Q="], "mask": "bWFzaw==", "mask_blur": 3}


@pytest.mark.parametrize(("field", "flag"), [
    ("steps", "--steps"), ("sampler_name", "--sampler"), ("hr_scale", "--hires-scale"), ("init_images[0]",
                                                                                         "--init-image"),
    ("override_settings.sd_model_checkpoint", "--checkpoint"), ("override_settings.x", "--override x"),
    ("script_args", "--script-args"), ("comments", "--param comments"), ("mask_blur", "--mask-blur"),
])
def test_each_field_is_named_by_its_flag(field, flag):
    assert arguments.flag_of(field) == flag


def test_a_json_file_is_one_body_and_jsonl_one_a_line_labelled_by_line(tmp_path):
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"prompt": "x", "init_images": ["AAAA"]}, indent=2))
    (body,) = request_bodies.from_file(str(single))
    assert (body.mode, body.label, body.fields["prompt"]) == ("img2img", "one.json", "x")
    lines = tmp_path / "many.jsonl"
    lines.write_text('{"prompt": "a"}\n\n{"prompt": "b"}\n')
    assert [(b.mode, b.label) for b in request_bodies.from_file(str(lines))] == [("txt2img", "many.jsonl:1"),
                                                                                ("txt2img", "many.jsonl:3")]
    assert str(lines.parent)  # the path exists
    lines.write_text('{"prompt": "a"}\n[1]\n')
    with pytest.raises(InputError, match=r"many.jsonl:2: expected a JSON object"):
        request_bodies.from_file(str(lines))
    lines.write_text('{"prompt": "a"}\n{oops\n')
    with pytest.raises(InputError, match=r"many.jsonl:2: not JSON"):
        request_bodies.from_file(str(lines))
    lines.write_text("\n\n")
    with pytest.raises(InputError, match="holds no request"):
        request_bodies.from_file(str(lines))
    pretty = tmp_path / "pretty.json"
    pretty.write_text('{\n  "prompt": "a",\n}\n')
    with pytest.raises(InputError, match=r"pretty.json: not JSON: .* line 3"):
        request_bodies.from_file(str(pretty))
    separators = tmp_path / "separators.jsonl"
    separators.write_text('\ufeff' + json.dumps({"prompt": "a\u2028b"}, ensure_ascii=False) + "\n" +
                          json.dumps({"prompt": "c"}) + "\n", encoding="utf-8")
    assert [b.fields["prompt"] for b in request_bodies.from_file(str(separators))] == ["a\u2028b", "c"]


def test_unknown_fields_are_refused_from_flags_and_reported_from_files():
    warnings = []
    request_bodies.check_fields(request_bodies.Body("txt2img", {"prompt": "x", "junk": 1}, "f.jsonl:4"),
                                {"prompt"}, warnings.append)
    assert warnings == ["f.jsonl:4: ignored (not fields of A1111's txt2img request): junk"]
    with pytest.raises(InputError, match="--param junk"):
        request_bodies.check_fields(request_bodies.Body("txt2img", {"junk": 1}), {"prompt"}, warnings.append)


def test_infotext_source_reads_an_image_or_takes_the_text(tmp_path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 3, Seed: 4")
    Image.new("RGB", (8, 8)).save(tmp_path / "with.png", pnginfo=info)
    Image.new("RGB", (8, 8)).save(tmp_path / "without.png")
    (tmp_path / "text.txt").write_text("not an image")
    assert request_bodies.infotext_of(str(tmp_path / "with.png")) == "a cat\nSteps: 3, Seed: 4"
    assert request_bodies.infotext_of("a dog\nSteps: 2") == "a dog\nSteps: 2"
    with pytest.raises(InputError, match="holds no generation parameters"):
        request_bodies.infotext_of(str(tmp_path / "without.png"))
    with pytest.raises(InputError, match="is not an image"):
        request_bodies.infotext_of(str(tmp_path / "text.txt"))


def test_plain_progress_lines_come_every_tenth_of_the_way_with_the_eta():
    stream = io.StringIO()
    display = progress.ProgressDisplay("txt2img", stream)
    display.update({"step": 0, "steps": 0, "fraction": 0.0, "eta_s": None})
    for step in range(1, 21):
        display.update({"step": step, "steps": 20, "fraction": step / 20, "eta_s": (20 - step) * 0.5})
    display.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "txt2img: 5% (step 1/20, ETA 9.5 s)"
    assert lines[-1] == "txt2img: 100% (step 20/20, ETA 0.0 s)"
    assert len(lines) == 11


def test_a_terminal_gets_a_tqdm_bar():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    display = progress.ProgressDisplay("txt2img", stream)
    display.update({"step": 5, "steps": 10, "fraction": 0.5, "eta_s": 1.0})
    drawn = stream.getvalue()
    display.close()
    assert "txt2img:  50%|" in drawn and "step 5/10" in drawn


def test_the_report_lists_saved_files_and_seeds(tmp_path):
    stored = {"info": json.dumps({"all_seeds": [3, 4], "infotexts": ["a", "b"]}), "saved_files": ["/o/1.png"]}
    result = report.job_result("task(x)", "f:1", stored)
    assert result == {"job": "task(x)", "state": "succeeded", "saved_files": ["/o/1.png"], "seeds": [3, 4],
                      "infotexts": ["a", "b"], "source": "f:1"}
    out, err = io.StringIO(), io.StringIO()
    report.print_results([result], False, out, err)
    assert out.getvalue() == "/o/1.png\n" and err.getvalue() == "job task(x) (f:1): succeeded; seeds 3, 4\n"
    written = report.write_images(["iVBORw0KGgo=", "data:image/jpeg;base64,/9g="], str(tmp_path), "task(txt2img-1)")
    assert [p.rsplit("/", 1)[1] for p in written] == ["txt2img-1-0.png", "txt2img-1-1.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["txt2img-1-0.png", "txt2img-1-1.jpg"]


def test_failures_exit_2_when_every_one_was_the_inputs_fault():
    assert main.failure_exit([{"error": None}]) == 0
    assert main.failure_exit([{"error": {"status": 422}}]) == 2
    assert main.failure_exit([{"error": {"status": 422}}, {"error": {"status": 500}}]) == 1


def test_the_engine_gets_the_data_dir_and_no_per_sampling_bar():
    args = argparse.Namespace(data_dir="/d")
    assert main.engine_argv(args)[1:] == ["--data-dir", "/d", "--disable-console-progressbars"]
