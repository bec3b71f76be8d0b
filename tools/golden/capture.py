"""Runs the golden requests in one fresh process and writes what they produced into --out.

Run by file path with the tree under test as the working directory, so that the tree's own modules/ are imported
while this (current) capture code drives them, even at revisions that predate tools/golden:

    cd TREE && python /path/to/tools/golden/capture.py --out DIR --inpaint-checkpoint FILE

--out gets images/<case>-<i>.png (pixels only), results.json (per case: infotexts, saved file names relative to
the data dir, options the run changed; then every option after the last case) and platform.json.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import random
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATE_PLACEHOLDER = "<date>"


def load_cases():
    spec = importlib.util.spec_from_file_location("golden_cases", os.path.join(HERE, "cases.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_model() -> str:
    """Vendor and model: CPUs with the same instruction set still pick different float kernels (AMD vs Intel)."""
    try:
        with open("/proc/cpuinfo", encoding="utf8") as file:
            fields = dict(line.split(":", 1) for line in file if line.startswith(("vendor_id", "model name")))
        return " ".join(value.strip() for value in fields.values())
    except OSError:
        return platform.processor()


def platform_facts() -> dict:
    import numpy
    import PIL
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "pillow": PIL.__version__, "system": platform.system(), "machine": platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "cpu": cpu_model()}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _install_checkpoint(source: str, name: str, data_dir: str) -> None:
    folder = os.path.join(data_dir, "models", "Stable-diffusion")
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, name)
    shutil.copyfile(source, target)
    config = os.path.splitext(source)[0] + ".config"
    if os.path.isdir(config):
        shutil.copytree(config, os.path.splitext(target)[0] + ".config")


def _install_lora(source: str, data_dir: str) -> None:
    folder = os.path.join(data_dir, "models", "Lora")
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(source, os.path.join(folder, os.path.basename(source)))


def _saved_files(data_dir: str) -> set[str]:
    outputs = os.path.join(data_dir, "outputs")
    found = set()
    for root, _, names in os.walk(outputs):
        found.update(os.path.relpath(os.path.join(root, n), data_dir).replace(os.sep, "/") for n in names)
    return found


def _normalise_path(path: str, today: str) -> str:
    return path.replace(today, DATE_PLACEHOLDER)


def _build(case, cases_module):
    from modules import processing

    params = dict(case.params)
    if case.mode == "txt2img":
        return processing.StableDiffusionProcessingTxt2Img(**params)
    params["init_images"] = [cases_module.INPUT_IMAGES[case.init_image]()]
    if case.mask:
        params["mask"] = cases_module.INPUT_IMAGES[case.mask]()
    return processing.StableDiffusionProcessingImg2Img(**params)


def _load_extensions() -> None:
    from modules import extensions, scripts

    extensions.list_extensions()
    scripts.initialize_scripts()


def _run_script(p, case):
    """The case's script with its args laid out as the API lays them out (defaults elsewhere)."""
    from modules import processing, scripts

    title, script_args = case.script
    runner = scripts.scripts_img2img if case.mode == "img2img" else scripts.scripts_txt2img
    runner.ensure_args_layout()
    args = list(runner.default_args)
    index = runner.selectable_index(title)
    script = runner.selectable_scripts[index - 1]
    args[script.args_from:script.args_to] = script_args
    args[0] = index
    p.scripts = runner
    p.script_args = tuple(args)
    return processing.process_images_with_scripts(p)


def run_case(case, cases_module, data_dir: str, images_dir: str) -> dict:
    from modules import processing, sd_models, shared

    if case.extensions:
        _load_extensions()

    info = sd_models.get_closet_checkpoint_match(case.checkpoint)
    if info is None:
        raise SystemExit(f"golden checkpoint {case.checkpoint} not found")
    sd_models.reload_model_weights(info=info)
    previous = {key: shared.opts.data.get(key) for key in case.options}
    previous_styles, previous_random = getattr(shared, "prompt_styles", None), random.getstate()
    shared.opts.data.update(case.options)
    try:
        before = _jsonable(shared.opts.data)
        files_before = _saved_files(data_dir)
        p = _build(case, cases_module)
        p.do_not_save_samples = False
        p.do_not_save_grid = False
        if case.prepare is not None:
            case.prepare(p, data_dir)
        processed = _run_script(p, case) if case.script else processing.process_images(p)
        after = _jsonable(shared.opts.data)
    finally:
        shared.opts.data.update(previous)
        shared.prompt_styles = previous_styles  # a case's prepare may install styles or seed random for itself
        random.setstate(previous_random)
    today = datetime.date.today().isoformat()
    image_names = []
    for index, image in enumerate(processed.images):
        name = f"{case.name}-{index}.png"
        image.convert("RGB").save(os.path.join(images_dir, name))
        image_names.append(name)
    changed = {key: [before.get(key), after.get(key)] for key in sorted(set(before) | set(after))
               if before.get(key) != after.get(key)}
    return {"images": image_names, "infotexts": list(processed.infotexts),
            "files": sorted(_normalise_path(f, today) for f in _saved_files(data_dir) - files_before),
            "options_changed": changed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--inpaint-checkpoint", required=True, help="the tiny inpainting checkpoint to install")
    parser.add_argument("--cases", nargs="*", help="only these cases (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the goldens use 1)")
    args = parser.parse_args()

    tree = os.getcwd()
    sys.path.insert(0, tree)
    sys.argv = sys.argv[:1]  # the webui parses sys.argv for its own options
    data_dir = tempfile.mkdtemp(prefix="serena-golden-data-")
    os.environ["SERENA_DATA_DIR"] = data_dir
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["IGNORE_CMD_ARGS_ERRORS"] = "1"

    import torch

    torch.set_num_threads(args.threads)
    cases_module = load_cases()
    cases = [c for c in cases_module.CASES if not args.cases or c.name in args.cases]
    if args.cases and len(cases) != len(set(args.cases)):
        raise SystemExit(f"unknown cases: {sorted(set(args.cases) - {c.name for c in cases})}")
    _install_checkpoint(args.inpaint_checkpoint, cases_module.TINY_INPAINT, data_dir)
    _install_lora(os.path.join(os.path.dirname(args.inpaint_checkpoint), cases_module.TINY_LORA), data_dir)

    from modules import devices, sd_models, shared

    devices.init(shared.cmd_opts)
    sd_models.list_models()
    images_dir = os.path.join(args.out, "images")
    os.makedirs(images_dir, exist_ok=True)
    results = {"cases": {}}
    try:
        for case in cases:
            results["cases"][case.name] = run_case(case, cases_module, data_dir, images_dir)
        results["options_after"] = _jsonable(shared.opts.data)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf8") as file:
        json.dump(results, file, indent=1, sort_keys=True, ensure_ascii=False)
        file.write("\n")
    with open(os.path.join(args.out, "platform.json"), "w", encoding="utf8") as file:
        json.dump(platform_facts(), file, indent=1, sort_keys=True)
        file.write("\n")


if __name__ == "__main__":
    main()
