"""SD upscale (A1111's scripts/sd_upscale.py, img2img only): the init image is enlarged with an upscaler, cut into
overlapping tiles of the width x height set in the tab, each tile is redrawn by img2img, and the tiles are blended
back together over their overlap."""

import math

import gradio as gr
from PIL import Image

from modules import devices, images, processing, scripts, shared, upscaler
from modules.processing import Processed
from modules.shared import opts, state


def find_upscaler_index(upscaler_index) -> int:
    """The Radio's index, or (API clients) an upscaler name, case-insensitively."""
    names = [x.name for x in shared.sd_upscalers]
    if isinstance(upscaler_index, str) and not upscaler_index.strip().isdigit():
        lowered = [name.lower() for name in names]
        if upscaler_index.lower() not in lowered:
            raise ValueError(f"unknown upscaler {upscaler_index!r}; known upscalers: {', '.join(names)}")
        return lowered.index(upscaler_index.lower())
    index = int(upscaler_index)
    if not 0 <= index < len(names):
        raise ValueError(f"upscaler index {index} out of range; upscalers: "
                         f"{', '.join(f'{i}: {n}' for i, n in enumerate(names))}")
    return index


def upscale(image: Image.Image, upscaler_name: str, scale_factor: float) -> Image.Image:
    """A1111's Upscaler.upscale: scaled by the factor, each side rounded down to a multiple of 8; "None" leaves
    the image as it is."""
    if upscaler_name == "None":
        return image
    width = int(image.width * scale_factor // 8 * 8)
    height = int(image.height * scale_factor // 8 * 8)
    return upscaler.upscale_image(image, width, height, upscaler_name)


def grid_tiles(grid: images.Grid) -> list[Image.Image]:
    return [tile for _y, _h, row in grid.tiles for _x, _w, tile in row]


def replace_grid_tiles(grid: images.Grid, tiles: list[Image.Image]) -> None:
    index = 0
    for _y, _h, row in grid.tiles:
        for tiledata in row:
            tiledata[2] = tiles[index] if index < len(tiles) else Image.new("RGB", (grid.tile_w, grid.tile_h))
            index += 1


class Script(scripts.Script):
    def title(self):
        return "SD upscale"

    def show(self, is_img2img):
        return is_img2img

    def ui(self, is_img2img):
        info = gr.HTML('<p style="margin-bottom:0.75em">Will upscale the image by the selected scale factor; '
                       "use width and height sliders to set tile size</p>")
        overlap = gr.Slider(minimum=0, maximum=256, step=16, label="Tile overlap", value=64,
                            elem_id=self.elem_id("overlap"))
        scale_factor = gr.Slider(minimum=1.0, maximum=4.0, step=0.05, label="Scale Factor", value=2.0,
                                 elem_id=self.elem_id("scale_factor"))
        upscaler_index = gr.Radio(label="Upscaler", choices=[x.name for x in shared.sd_upscalers],
                                  value=shared.sd_upscalers[0].name, type="index",
                                  elem_id=self.elem_id("upscaler_index"))
        return [info, overlap, upscaler_index, scale_factor]

    def run(self, p, _, overlap, upscaler_index, scale_factor):
        chosen = shared.sd_upscalers[find_upscaler_index(upscaler_index)]
        overlap, scale_factor = int(overlap), float(scale_factor)
        if not p.init_images:
            raise ValueError("SD upscale needs an init image")
        processing.fix_seed(p)
        p.extra_generation_params["SD upscale overlap"] = overlap
        p.extra_generation_params["SD upscale upscaler"] = chosen.name

        init_img = images.flatten(p.init_images[0], opts.img2img_background_color)
        img = upscale(init_img, chosen.name, scale_factor)
        devices.torch_gc()
        grid = images.split_grid(img, tile_w=p.width, tile_h=p.height, overlap=overlap)
        work = grid_tiles(grid)

        batch_size, upscale_count, seed = p.batch_size, p.n_iter, p.seed
        save_samples = opts.samples_save and not p.do_not_save_samples
        p.n_iter = 1
        p.do_not_save_grid = True
        p.do_not_save_samples = True
        batch_count = math.ceil(len(work) / batch_size)
        state.job_count = batch_count * upscale_count
        print(f"SD upscaling will process a total of {len(work)} images tiled as {len(grid.tiles[0][2])}x"
              f"{len(grid.tiles)} per upscale in a total of {state.job_count} batches.")

        initial_info = None
        result_images = []
        for n in range(upscale_count):
            start_seed = seed + n
            p.seed = start_seed
            work_results = []
            for i in range(batch_count):
                p.init_images = work[i * batch_size:(i + 1) * batch_size]
                p.batch_size = len(p.init_images)
                state.job = f"Batch {i + 1 + n * batch_count} out of {state.job_count}"
                processed = processing.process_images(p)
                if initial_info is None:
                    initial_info = processed.info
                p.seed = processed.seed + 1
                work_results += processed.images[processed.index_of_first_image:]
            replace_grid_tiles(grid, work_results)
            combined_image = images.combine_grid(grid)
            if opts.enable_pnginfo and initial_info:
                combined_image.info["parameters"] = initial_info
            result_images.append(combined_image)
            if save_samples:
                images.save_image(combined_image, p.outpath_samples, "", start_seed, p.prompt, opts.samples_format,
                                  info=initial_info, p=p)
        p.batch_size = batch_size
        return Processed(p, result_images, seed, initial_info, all_seeds=[seed + n for n in range(upscale_count)],
                         infotexts=[initial_info] * len(result_images))
