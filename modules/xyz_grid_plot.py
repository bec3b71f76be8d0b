"""Running an X/Y/Z plot: one generation per cell (slow-to-change axes outermost), each cell's options its own layer
over the plot's, and the labelled grids built from the cells."""

import dataclasses
import itertools
import logging
from copy import copy

from PIL import Image

from modules import errors, images, processing
from modules.processing import Processed
from modules.shared import state
from modules.xyz_grid_axes import AxisOption

log = logging.getLogger(__name__)

SEED_AXES = ("Seed", "Var. seed")


@dataclasses.dataclass
class PlotAxis:
    name: str
    """"X", "Y" or "Z" """
    option: AxisOption
    values: list
    values_text: str
    """the values as the user wrote them (recorded in the grid infotext)"""
    vary_seeds: bool = False


def fix_axis_seeds(option: AxisOption, values: list) -> list:
    if option.label not in SEED_AXES:
        return values
    return [processing.get_fixed_seed(-1) if value in (None, "", -1) else value for value in values]


def processing_order(x: AxisOption, y: AxisOption, z: AxisOption) -> tuple[str, str]:
    """(outermost, middle) loop axis: the costliest axis to change (a checkpoint) changes least often."""
    costs = {"x": x.cost, "y": y.cost, "z": z.cost}
    for first in ("x", "y", "z"):
        others = [axis for axis in ("x", "y", "z") if axis != first]
        if all(costs[first] > costs[other] for other in others):
            second = others[0] if costs[others[0]] > costs[others[1]] else others[1]
            return first, second
    return "z", "y"


def cell_order(counts: dict[str, int], first: str, second: str):
    """(ix, iy, iz) for every cell, the `first` axis in the outer loop and the remaining one innermost."""
    third = next(axis for axis in ("x", "y", "z") if axis not in (first, second))
    for indices in itertools.product(range(counts[first]), range(counts[second]), range(counts[third])):
        position = dict(zip((first, second, third), indices))
        yield position["x"], position["y"], position["z"]


class CellRunner:
    """Generates one cell from a copy of p with each axis' value applied (an axis that changes an option does it
    through the cell's override_settings, a layer that ends with the cell); records the grid infotexts (the
    sub-grid's from its first cell, the main grid's from the very first) as A1111 does."""

    def __init__(self, p, axes: list[PlotAxis], no_fixed_seeds: bool, title: str):
        self.p = p
        self.axes = axes
        self.no_fixed_seeds = no_fixed_seeds
        self.title = title
        self.grid_infotexts = [None] * (1 + len(axes[2].values))
        self.first_error: Exception | None = None

    def __call__(self, x, y, z, ix: int, iy: int, iz: int) -> Processed:
        if state.interrupted or state.stopping_generation:
            return Processed(self.p, [], self.p.seed, "")
        pc = copy(self.p)
        pc.styles = list(pc.styles)
        pc.override_settings = dict(pc.override_settings)
        pc.extra_generation_params = dict(pc.extra_generation_params)
        pc.comments = dict(pc.comments)
        pc.override_settings_restore_afterwards = True
        for axis, value in zip(self.axes, (x, y, z)):
            axis.option.apply(pc, value, axis.values)
        self._vary_seed(pc, ix, iy, iz)
        try:
            result = processing.process_images(pc)
        except Exception as e:
            errors.display(e, "generating image for xyz plot")
            self.first_error = self.first_error or e
            return Processed(self.p, [], self.p.seed, "")
        if result.images:
            self._record_grid_infotexts(pc, ix, iy, iz)
        return result

    def _vary_seed(self, pc, ix, iy, iz) -> None:
        x, y, z = self.axes
        x_dim = len(x.values) if x.vary_seeds else 1
        y_dim = len(y.values) if y.vary_seeds else 1
        if x.vary_seeds:
            pc.seed += ix
        if y.vary_seeds:
            pc.seed += iy * x_dim
        if z.vary_seeds:
            pc.seed += iz * x_dim * y_dim

    def _axis_params(self, axis: PlotAxis) -> dict:
        if axis.option.label == "Nothing":
            return {}
        params = {f"{axis.name} Type": axis.option.label, f"{axis.name} Values": axis.values_text}
        if axis.option.label in SEED_AXES and not self.no_fixed_seeds:
            params[f"Fixed {axis.name} Values"] = ", ".join(str(v) for v in axis.values)
        return params

    def _record_grid_infotexts(self, pc, ix, iy, iz) -> None:
        if ix != 0 or iy != 0:
            return
        x, y, z = self.axes
        pc.extra_generation_params = {**pc.extra_generation_params, "Script": self.title, **self._axis_params(x),
                                      **self._axis_params(y)}
        if self.grid_infotexts[1 + iz] is None:
            self.grid_infotexts[1 + iz] = processing.create_infotext(pc, pc.all_prompts, pc.all_seeds,
                                                                     pc.all_subseeds)
        if iz == 0 and self.grid_infotexts[0] is None:
            pc.extra_generation_params = {**pc.extra_generation_params, **self._axis_params(z)}
            self.grid_infotexts[0] = processing.create_infotext(pc, pc.all_prompts, pc.all_seeds, pc.all_subseeds)


def _blank_like(cells: list) -> Image.Image:
    template = next(image for image in cells if image is not None)
    return Image.new(template.mode, template.size)


def draw_xyz_grid(p, xs, ys, zs, x_labels, y_labels, z_labels, cell, draw_legend, include_lone_images,
                  include_sub_grids, first_axes_processed, second_axes_processed, margin_size):
    """Runs cell(x, y, z, ix, iy, iz) for every combination and returns a Processed whose images are
    [main grid (the sub-grids side by side, labelled by Z), one labelled X/Y sub-grid per Z value, every cell];
    a failed cell is a blank image. include_lone_images / include_sub_grids are applied by the caller."""
    hor_texts = [[images.GridAnnotation(x)] for x in x_labels]
    ver_texts = [[images.GridAnnotation(y)] for y in y_labels]
    title_texts = [[images.GridAnnotation(z)] for z in z_labels]
    cell_count = len(xs) * len(ys) * len(zs)
    state.job_count = cell_count * p.n_iter

    results: list[Processed | None] = [None] * cell_count
    counts = {"x": len(xs), "y": len(ys), "z": len(zs)}
    for ix, iy, iz in cell_order(counts, first_axes_processed, second_axes_processed):
        index = ix + iy * len(xs) + iz * len(xs) * len(ys)
        state.job = f"{index + 1} out of {cell_count}"
        results[index] = cell(xs[ix], ys[iy], zs[iz], ix, iy, iz)

    template = next((r for r in results if r is not None and r.images), None)
    if template is None:
        return Processed(p, [])
    cell_images = [r.images[0] if r is not None and r.images else None for r in results]
    cell_images = [image if image is not None else _blank_like(cell_images) for image in cell_images]

    sub_grids = []
    per_grid = len(xs) * len(ys)
    for iz in range(len(zs)):
        grid_cells = cell_images[iz * per_grid:(iz + 1) * per_grid]
        grid = images.image_grid(grid_cells, rows=len(ys))
        if draw_legend:
            width, height = grid_cells[0].size
            grid = images.draw_grid_annotations(grid, width, height, hor_texts, ver_texts, margin_size)
        sub_grids.append(grid)

    z_grid = images.image_grid(sub_grids, rows=1)
    if draw_legend:
        max_w, max_h = map(max, zip(*(g.size for g in sub_grids)))
        z_grid = images.draw_grid_annotations(z_grid, max_w, max_h, title_texts, [[images.GridAnnotation()]])

    result = copy(template)
    result.images = [z_grid, *sub_grids, *cell_images]
    result.all_prompts = [r.prompt if r is not None and r.images else None for r in results]
    result.all_seeds = [r.seed if r is not None and r.images else None for r in results]
    cell_infotexts = [r.infotexts[0] if r is not None and r.images else "" for r in results]
    result.infotexts = [cell_infotexts[0], *(cell_infotexts[iz * per_grid] for iz in range(len(zs))),
                        *cell_infotexts]
    result.index_of_first_image = 1
    return result
