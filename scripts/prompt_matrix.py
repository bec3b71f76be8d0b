"""Prompt matrix (A1111's scripts/prompt_matrix.py): "base|a|b" generates every combination of the optional parts
a and b added to the base, as one labelled grid (the parts across and down, greyed out where absent).

n optional parts make 2**n prompts: at most MAX_OPTIONAL_PARTS (12, so 4096 prompts), else a ValueError."""

import math

import gradio as gr

from modules import images, processing, scripts
from modules.shared import opts

DELIMITERS = {"comma": ", ", "space": " "}
MAX_OPTIONAL_PARTS = 12


def matrix_prompts(prompt: str, put_at_start: bool, delimiter: str) -> tuple[list[str], list[str]]:
    """(the prompt's parts split at "|", one prompt per combination): combination n has optional part i when bit i
    of n is set."""
    parts = prompt.split("|")
    if len(parts) - 1 > MAX_OPTIONAL_PARTS:
        raise ValueError(f"Prompt matrix: {len(parts) - 1} optional parts would make 2**{len(parts) - 1} prompts; "
                         f"the limit is {MAX_OPTIONAL_PARTS} parts ({2 ** MAX_OPTIONAL_PARTS} prompts)")
    prompts = []
    for combination in range(2 ** (len(parts) - 1)):
        selected = [text.strip().strip(",") for n, text in enumerate(parts[1:]) if combination & (1 << n)]
        selected = [*selected, parts[0]] if put_at_start else [parts[0], *selected]
        prompts.append(delimiter.join(selected))
    return parts, prompts


class Script(scripts.Script):
    def title(self):
        return "Prompt matrix"

    def ui(self, is_img2img):
        gr.HTML("<br />")
        with gr.Row():
            with gr.Column():
                put_at_start = gr.Checkbox(label="Put variable parts at start of prompt", value=False,
                                           elem_id=self.elem_id("put_at_start"))
                different_seeds = gr.Checkbox(label="Use different seed for each picture", value=False,
                                              elem_id=self.elem_id("different_seeds"))
            with gr.Column():
                prompt_type = gr.Radio(["positive", "negative"], label="Select prompt", value="positive",
                                       elem_id=self.elem_id("prompt_type"))
                variations_delimiter = gr.Radio(["comma", "space"], label="Select joining char", value="comma",
                                                elem_id=self.elem_id("variations_delimiter"))
            with gr.Column():
                margin_size = gr.Slider(label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2,
                                        elem_id=self.elem_id("margin_size"))
        return [put_at_start, different_seeds, prompt_type, variations_delimiter, margin_size]

    def run(self, p, put_at_start, different_seeds, prompt_type, variations_delimiter, margin_size):
        if prompt_type not in ("positive", "negative"):
            raise ValueError(f"Unknown prompt type {prompt_type!r}: expected 'positive' or 'negative'")
        if variations_delimiter not in DELIMITERS:
            raise ValueError(f"Unknown variations delimiter {variations_delimiter!r}: expected 'comma' or 'space'")
        processing.fix_seed(p)

        prompt = p.prompt if prompt_type == "positive" else p.negative_prompt
        original_prompt = prompt[0] if isinstance(prompt, list) else prompt
        positive_prompt = p.prompt[0] if isinstance(p.prompt, list) else p.prompt
        parts, all_prompts = matrix_prompts(original_prompt, put_at_start, DELIMITERS[variations_delimiter])

        p.n_iter = math.ceil(len(all_prompts) / p.batch_size)
        save_grid = opts.grid_save and not p.do_not_save_grid
        p.do_not_save_grid = True
        print(f"Prompt matrix will create {len(all_prompts)} images using a total of {p.n_iter} batches.")
        if prompt_type == "positive":
            p.prompt = all_prompts
        else:
            p.negative_prompt = all_prompts
        p.seed = [p.seed + (i if different_seeds else 0) for i in range(len(all_prompts))]
        p.prompt_for_display = positive_prompt
        processed = processing.process_images(p)
        if not processed.images:
            return processed

        grid = images.image_grid(processed.images, p.batch_size, rows=1 << ((len(parts) - 1) // 2))
        grid = images.draw_prompt_matrix(grid, processed.images[0].width, processed.images[0].height, parts,
                                         int(margin_size or 0))
        if opts.enable_pnginfo:
            grid.info["parameters"] = processed.infotexts[0]
        processed.images.insert(0, grid)
        processed.index_of_first_image = 1
        processed.infotexts.insert(0, processed.infotexts[0])
        if save_grid:
            images.save_image(processed.images[0], p.outpath_grids, "prompt_matrix", extension=opts.grid_format,
                              prompt=original_prompt, seed=processed.seed, grid=True, p=p)
        return processed
