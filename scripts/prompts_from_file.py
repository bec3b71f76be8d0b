"""Prompts from file or textbox (A1111's scripts/prompts_from_file.py): one generation per line. A line is a prompt,
or, when it starts with "--", A1111's command line of generation settings:
    --prompt "a cat" --negative_prompt "blurry" --steps 10 --cfg_scale 5 --seed 7 --sampler_name "Euler a"
An unknown option, a missing or malformed value is a ValueError naming the line and the option. --outpath_samples and
--outpath_grids (directories to save to) are refused in API requests: they would let a client write anywhere."""

import copy
import random
import shlex

import gradio as gr

from modules import processing, scripts, sd_models, sd_samplers
from modules.processing import Processed
from modules.shared import state


def process_model_tag(tag):
    info = sd_models.get_closet_checkpoint_match(tag)
    if info is None:
        raise ValueError(f"unknown checkpoint: {tag}")
    return info.name


def process_string_tag(tag):
    return tag


def process_int_tag(tag):
    return int(tag)


def process_float_tag(tag):
    return float(tag)


def process_boolean_tag(tag):
    return tag == "true"


def process_styles_tag(tag):
    return [style.strip() for style in tag.split(",") if style.strip()]


def process_sampler_tag(tag):
    name = sd_samplers.samplers_map.get(tag.lower())
    if name is None:
        raise ValueError(f"unknown sampler: {tag}")
    return name


prompt_tags = {
    "sd_model": process_model_tag,
    "outpath_samples": process_string_tag,
    "outpath_grids": process_string_tag,
    "prompt_for_display": process_string_tag,
    "prompt": process_string_tag,
    "negative_prompt": process_string_tag,
    "styles": process_styles_tag,
    "seed": process_int_tag,
    "subseed_strength": process_float_tag,
    "subseed": process_int_tag,
    "seed_resize_from_h": process_int_tag,
    "seed_resize_from_w": process_int_tag,
    "sampler_index": process_int_tag,
    "sampler_name": process_sampler_tag,
    "batch_size": process_int_tag,
    "n_iter": process_int_tag,
    "steps": process_int_tag,
    "cfg_scale": process_float_tag,
    "width": process_int_tag,
    "height": process_int_tag,
    "restore_faces": process_boolean_tag,
    "tiling": process_boolean_tag,
    "do_not_save_samples": process_boolean_tag,
    "do_not_save_grid": process_boolean_tag,
}
PROMPT_TAGS = ("prompt", "negative_prompt")
UI_ONLY_TAGS = ("outpath_samples", "outpath_grids")


def cmdargs(line: str) -> dict:
    """The settings of one "--tag value ..." line; --prompt and --negative_prompt take every word up to the next
    option."""
    try:
        args = shlex.split(line)
    except ValueError as e:
        raise ValueError(f"cannot split the line into options: {e}") from e
    pos, res = 0, {}
    while pos < len(args):
        arg = args[pos]
        if not arg.startswith("--"):
            raise ValueError(f'must start with "--": {arg}')
        if pos + 1 >= len(args):
            raise ValueError(f"missing argument for command line option {arg}")
        tag = arg[2:]
        if tag in PROMPT_TAGS:
            pos += 1
            words = []
            while pos < len(args) and not args[pos].startswith("--"):
                words.append(args[pos])
                pos += 1
            res[tag] = " ".join(words)
            continue
        func = prompt_tags.get(tag)
        if func is None:
            raise ValueError(f"unknown commandline option: {arg}; known options: "
                             f"{', '.join('--' + t for t in prompt_tags)}")
        try:
            res[tag] = func(args[pos + 1])
        except ValueError as e:
            raise ValueError(f"bad value for {arg}: {args[pos + 1]!r} ({e})") from e
        pos += 2
    return res


def parse_line(line: str, number: int) -> dict:
    if not line.startswith("--"):
        return {"prompt": line}
    try:
        return cmdargs(line)
    except ValueError as e:
        raise ValueError(f"line {number}: {e}") from e


def load_prompt_file(file):
    """An uploaded file's lines go into the text box (A1111's behaviour: the file itself is then cleared)."""
    if file is None:
        return None, gr.update()
    if isinstance(file, bytes):
        data = file
    else:
        with open(getattr(file, "name", file), "rb") as handle:
            data = handle.read()
    lines = [x.strip() for x in data.decode("utf8", errors="ignore").split("\n")]
    return None, gr.update(value="\n".join(lines), lines=7)


def combined_prompt(line_prompt: str | None, base_prompt: str, position: str) -> str | None:
    """The line's prompt put at the start or end of the prompt typed in the main prompt box."""
    if not line_prompt or not base_prompt:
        return line_prompt
    return f"{line_prompt} {base_prompt}" if position == "start" else f"{base_prompt} {line_prompt}"


def line_batches(jobs: list[dict], batch_size: int) -> list[list[dict]]:
    """Consecutive prompt-only lines grouped batch_size at a time; a line with other settings runs alone."""
    batches, current = [], []
    for job in jobs:
        if set(job) == {"prompt"}:
            current.append(job)
            if len(current) == batch_size:
                batches.append(current)
                current = []
            continue
        if current:
            batches.append(current)
            current = []
        batches.append([job])
    if current:
        batches.append(current)
    return batches


class Script(scripts.Script):
    def title(self):
        return "Prompts from file or textbox"

    def ui(self, is_img2img):
        checkbox_iterate = gr.Checkbox(label="Iterate seed every line", value=False,
                                       elem_id=self.elem_id("checkbox_iterate"))
        checkbox_iterate_batch = gr.Checkbox(label="Use same random seed for all lines", value=False,
                                             elem_id=self.elem_id("checkbox_iterate_batch"))
        prompt_position = gr.Radio(["start", "end"], label="Insert prompts at the", value="start",
                                   elem_id=self.elem_id("prompt_position"))
        prompt_txt = gr.Textbox(label="List of prompt inputs", lines=1, elem_id=self.elem_id("prompt_txt"))
        file = gr.File(label="Upload prompt inputs", type="binary", elem_id=self.elem_id("file"))
        batch_lines = gr.Checkbox(label="Batch lines together (one image per line, batch size lines at a time)",
                                  value=False, elem_id=self.elem_id("batch_lines"))
        file.change(fn=load_prompt_file, inputs=[file], outputs=[file, prompt_txt], show_progress="hidden",
                    api_visibility="private")
        prompt_txt.change(lambda text: gr.update(lines=7 if "\n" in (text or "") else 2), inputs=[prompt_txt],
                          outputs=[prompt_txt], show_progress="hidden", api_visibility="private")
        return [checkbox_iterate, checkbox_iterate_batch, prompt_position, prompt_txt, batch_lines]

    def run(self, p, checkbox_iterate, checkbox_iterate_batch, prompt_position, prompt_txt: str, batch_lines=False):
        lines = [x for x in (x.strip() for x in (prompt_txt or "").splitlines()) if x]
        if not lines:
            raise ValueError("no prompts: the list of prompt inputs is empty")
        jobs = [parse_line(line, number) for number, line in enumerate(lines, start=1)]
        if p.is_api:
            for number, job in enumerate(jobs, start=1):
                for tag in UI_ONLY_TAGS:
                    if tag in job:
                        raise ValueError(f"line {number}: --{tag} is not allowed in API requests "
                                         "(it sets the directory images are saved to)")
        batches = line_batches(jobs, p.batch_size) if batch_lines else [[job] for job in jobs]
        p.do_not_save_grid = True
        if (checkbox_iterate or checkbox_iterate_batch) and p.seed in (-1, None, ""):
            p.seed = int(random.randrange(4294967294))

        def is_line_batch(batch):
            return batch_lines and set(batch[0]) == {"prompt"}

        state.job_count = sum(1 if is_line_batch(b) else b[0].get("n_iter", p.n_iter) for b in batches)
        print(f"Will process {len(lines)} lines in {state.job_count} jobs.")
        results = []
        for batch in batches:
            state.job = f"{state.job_no + 1} out of {state.job_count}"
            batched = is_line_batch(batch)
            copy_p = self.batch_processing(p, batch, prompt_position, checkbox_iterate) if batched \
                else self.line_processing(p, batch[0], prompt_position)
            results.append(processing.process_images(copy_p))
            if checkbox_iterate:
                p.seed = p.seed + (len(batch) if batched else p.batch_size * p.n_iter)

        images = [image for r in results for image in r.images]
        infotexts = [text for r in results for text in r.infotexts]
        return Processed(p, images, p.seed, infotexts[0] if infotexts else "",
                         all_prompts=[x for r in results for x in r.all_prompts],
                         all_seeds=[x for r in results for x in r.all_seeds], infotexts=infotexts)

    @staticmethod
    def line_processing(p, args: dict, prompt_position: str):
        """A copy of p with one line's settings applied."""
        copy_p = copy.copy(p)
        copy_p.override_settings = dict(p.override_settings)
        copy_p.extra_generation_params = dict(p.extra_generation_params)
        for key, value in args.items():
            if key == "sd_model":
                copy_p.override_settings["sd_model_checkpoint"] = value
            else:
                setattr(copy_p, key, value)
        copy_p.prompt = combined_prompt(args.get("prompt"), p.prompt, prompt_position) or copy_p.prompt
        copy_p.negative_prompt = combined_prompt(args.get("negative_prompt"), p.negative_prompt,
                                                 prompt_position) or copy_p.negative_prompt
        return copy_p

    @staticmethod
    def batch_processing(p, batch: list[dict], prompt_position: str, iterate_seed: bool):
        """A copy of p generating one image per prompt-only line, in one batch (line i's seed: p.seed, or
        p.seed + i when iterating seeds)."""
        copy_p = copy.copy(p)
        copy_p.override_settings = dict(p.override_settings)
        copy_p.extra_generation_params = dict(p.extra_generation_params)
        copy_p.prompt = [combined_prompt(job["prompt"], p.prompt, prompt_position) for job in batch]
        copy_p.batch_size, copy_p.n_iter = len(batch), 1
        copy_p.seed = [int(p.seed) + (i if iterate_seed else 0) for i in range(len(batch))] \
            if p.seed not in (-1, None, "") else p.seed
        return copy_p
