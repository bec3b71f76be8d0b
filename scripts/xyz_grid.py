"""X/Y/Z plot (A1111's scripts/xyz_grid.py): one generation per combination of up to three axes' values, returned
as a labelled grid (and, on request, the sub-grids per Z value and the single images).

The axis types, value parsing and grid drawing live in modules/xyz_grid_*.py; their A1111 names are imported here
so extensions that reach into this module (axis_options.append(...), AxisOption, apply_field, ...) find them.

Limits of one plot, checked before anything is generated (a ValueError naming the axis or the limit): at most
MAX_AXIS_VALUES (1000) values per axis, ranges and "Prompt order" permutations included, and at most MAX_GRID_CELLS
(10000) cells in all; the grid's size is capped by the img_max_size_mp setting."""

import gradio as gr
from PIL import Image

from modules import images, runtime_utils, scripts
from modules.processing import StableDiffusionProcessingTxt2Img, fix_seed
from modules.shared import opts, state
from modules.ui_components import ToolButton
from modules.xyz_grid_axes import (  # noqa: F401 (A1111's public names of this module)
    AxisInfo,
    AxisOption,
    AxisOptionImg2Img,
    AxisOptionTxt2Img,
    apply_checkpoint,
    apply_field,
    apply_order,
    apply_override,
    apply_prompt,
    apply_size,
    apply_styles,
    apply_vae,
    axis_options,
    boolean_choice,
    check_override_supported,
    confirm_checkpoints,
    confirm_checkpoints_or_none,
    confirm_range,
    confirm_samplers,
    current_axis_options,
    do_nothing,
    find_axis_option,
    format_nothing,
    format_remove_path,
    format_value,
    format_value_add_label,
    format_value_join_list,
)
from modules.xyz_grid_plot import (  # noqa: F401
    CellRunner,
    PlotAxis,
    draw_xyz_grid,
    fix_axis_seeds,
    processing_order,
)
from modules.xyz_grid_values import (  # noqa: F401
    MAX_AXIS_VALUES,
    csv_string_to_list_strip,
    list_to_csv_string,
    re_range,
    re_range_count,
    re_range_count_float,
    re_range_float,
    str_permutations,
    typed_values,
)

fill_values_symbol = "\U0001f4d2"  # 📒
MAX_GRID_CELLS = 10000


def axis_value_strings(option: AxisOption, values_text, values_dropdown, csv_mode: bool) -> list[str]:
    """The axis' values as strings: from the dropdown for an axis with choices (unless csv_mode), else from the
    text (CSV, or the axis' own prepare). A client that fills only the text of a choices axis is read from the text."""
    dropdown = [str(v) for v in (values_dropdown or [])]
    if option.choices is not None and not csv_mode and dropdown:
        return dropdown
    if option.prepare is not None:
        return option.prepare(values_text or "")
    return [v for v in csv_string_to_list_strip(values_text or "") if v != ""]


def process_axis(p, axis_name: str, option: AxisOption, values_text, values_dropdown, csv_mode: bool) -> list:
    """The axis' typed values, checked before anything is generated; "Nothing" is one empty value."""
    if option.label == "Nothing":
        return [0]
    check_override_supported(option, f"{axis_name} axis")
    label = f"{axis_name} axis ({option.label})"
    strings = axis_value_strings(option, values_text, values_dropdown, csv_mode)
    if not strings:
        raise ValueError(f"{label}: no values given")
    values = typed_values(strings, option.type, label)
    if option.confirm:
        try:
            option.confirm(p, values)
        except (ValueError, RuntimeError, AssertionError) as e:
            raise ValueError(f"{label}: {e}") from e
    return values


def values_text_for_infotext(option: AxisOption, values_text, values_dropdown, csv_mode: bool) -> str:
    if option.choices is not None and not csv_mode and values_dropdown:
        return list_to_csv_string(values_dropdown)
    return values_text or ""


def total_steps(p, axes: list[PlotAxis]) -> int:
    """Sampling steps of the whole plot, for the console message (hires passes included)."""
    counts = [len(a.values) for a in axes]
    cells = counts[0] * counts[1] * counts[2]

    def axis_sum(label):
        for axis, count in zip(axes, counts):
            if axis.option.label == label:
                return sum(axis.values) * cells // count
        return None

    steps = axis_sum("Steps") or p.steps * cells
    if isinstance(p, StableDiffusionProcessingTxt2Img) and p.enable_hr:
        hires = axis_sum("Hires steps")
        steps += hires if hires is not None else (p.hr_second_pass_steps * cells if p.hr_second_pass_steps else steps)
    return steps * p.n_iter


class Script(scripts.Script):
    def title(self):
        return "X/Y/Z plot"

    def ui(self, is_img2img):
        self.current_axis_options = current_axis_options(is_img2img)
        labels = [x.label for x in self.current_axis_options]
        axis_rows = []
        with gr.Row():
            with gr.Column(scale=19):
                for axis, default in (("x", labels[1]), ("y", labels[0]), ("z", labels[0])):
                    with gr.Row():
                        axis_type = gr.Dropdown(label=f"{axis.upper()} type", choices=labels, value=default,
                                                type="index", elem_id=self.elem_id(f"{axis}_type"))
                        axis_values = gr.Textbox(label=f"{axis.upper()} values", lines=1,
                                                 elem_id=self.elem_id(f"{axis}_values"))
                        axis_values_dropdown = gr.Dropdown(label=f"{axis.upper()} values", visible=False,
                                                           multiselect=True, interactive=True, choices=[], value=[])
                        fill_button = ToolButton(value=fill_values_symbol, elem_id=f"xyz_grid_fill_{axis}_tool_button",
                                                 visible=False)
                    axis_rows.append((axis_type, axis_values, axis_values_dropdown, fill_button))

        with gr.Row(variant="compact", elem_id="axis_options"):
            with gr.Column():
                draw_legend = gr.Checkbox(label="Draw legend", value=True, elem_id=self.elem_id("draw_legend"))
                no_fixed_seeds = gr.Checkbox(label="Keep -1 for seeds", value=False,
                                             elem_id=self.elem_id("no_fixed_seeds"))
                with gr.Row():
                    vary_seeds = [gr.Checkbox(label=f"Vary seeds for {axis}", value=False, min_width=80,
                                              elem_id=self.elem_id(f"vary_seeds_{axis.lower()}")) for axis in "XYZ"]
            with gr.Column():
                include_lone_images = gr.Checkbox(label="Include Sub Images", value=False,
                                                  elem_id=self.elem_id("include_lone_images"))
                include_sub_grids = gr.Checkbox(label="Include Sub Grids", value=False,
                                                elem_id=self.elem_id("include_sub_grids"))
                csv_mode = gr.Checkbox(label="Use text inputs instead of dropdowns", value=False,
                                       elem_id=self.elem_id("csv_mode"))
            with gr.Column():
                margin_size = gr.Slider(label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2,
                                        elem_id=self.elem_id("margin_size"))

        self._wire_ui_events(axis_rows, csv_mode)
        (x_type, x_values, x_values_dropdown, _), (y_type, y_values, y_values_dropdown, _), \
            (z_type, z_values, z_values_dropdown, _) = axis_rows

        def dropdown_values_from_params(axis, params):
            return gr.update(value=csv_string_to_list_strip(params.get(f"{axis} Values", "")))

        self.infotext_fields = (
            (x_type, "X Type"), (x_values, "X Values"),
            (x_values_dropdown, lambda params: dropdown_values_from_params("X", params)),
            (y_type, "Y Type"), (y_values, "Y Values"),
            (y_values_dropdown, lambda params: dropdown_values_from_params("Y", params)),
            (z_type, "Z Type"), (z_values, "Z Values"),
            (z_values_dropdown, lambda params: dropdown_values_from_params("Z", params)),
        )
        return [x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown, z_type, z_values,
                z_values_dropdown, draw_legend, include_lone_images, include_sub_grids, no_fixed_seeds, *vary_seeds,
                margin_size, csv_mode]

    def _wire_ui_events(self, axis_rows, csv_mode) -> None:
        """Swap buttons, the 📒 fill buttons, and the values dropdown shown instead of the text box for axes with
        choices (unless csv_mode)."""
        with gr.Row(variant="compact", elem_id="swap_axes"):
            swap_buttons = [gr.Button(value=f"Swap {a}/{b} axes", elem_id=f"{a.lower()}{b.lower()}_grid_swap_axes_button")
                            for a, b in (("X", "Y"), ("Y", "Z"), ("X", "Z"))]

        def option(axis_type):
            return self.current_axis_options[axis_type or 0]

        def swap(type1, values1, dropdown1, type2, values2, dropdown2):
            return option(type2).label, values2, dropdown2, option(type1).label, values1, dropdown1

        for button, (first, second) in zip(swap_buttons, ((0, 1), (1, 2), (0, 2))):
            args = [*axis_rows[first][:3], *axis_rows[second][:3]]
            button.click(swap, inputs=args, outputs=args, api_visibility="private")

        def fill(axis_type, csv):
            choices = option(axis_type).choices
            if not choices:
                return gr.update(), gr.update()
            return (list_to_csv_string(choices()), gr.update()) if csv else (gr.update(), choices())

        def select_axis(axis_type, values, values_dropdown, csv):
            choices = option(axis_type).choices
            if choices is None:
                return gr.update(visible=False), gr.update(visible=True, value=values), \
                    gr.update(visible=False, choices=[], value=[])
            choices = choices()
            if csv:
                if values_dropdown:
                    values = list_to_csv_string([v for v in values_dropdown if v in choices])
                    values_dropdown = []
            elif values:
                values_dropdown = [v for v in csv_string_to_list_strip(values) if v in choices]
                values = ""
            return gr.update(visible=True), gr.update(visible=csv, value=values), \
                gr.update(choices=choices, visible=not csv, value=values_dropdown or [])

        for axis_type, values, values_dropdown, fill_button in axis_rows:
            fill_button.click(fill, inputs=[axis_type, csv_mode], outputs=[values, values_dropdown],
                              api_visibility="private")
            axis_type.change(select_axis, inputs=[axis_type, values, values_dropdown, csv_mode],
                             outputs=[fill_button, values, values_dropdown], api_visibility="private")
            csv_mode.change(select_axis, inputs=[axis_type, values, values_dropdown, csv_mode],
                            outputs=[fill_button, values, values_dropdown], api_visibility="private")

    def run(self, p, x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown, z_type, z_values,
            z_values_dropdown, draw_legend, include_lone_images, include_sub_grids, no_fixed_seeds, vary_seeds_x,
            vary_seeds_y, vary_seeds_z, margin_size, csv_mode):
        options = current_axis_options(self.is_img2img)
        if not no_fixed_seeds:
            fix_seed(p)
        if not opts.return_grid:
            p.batch_size = 1

        axes = []
        for name, axis_type, values_text, values_dropdown, vary in (
                ("X", x_type, x_values, x_values_dropdown, vary_seeds_x),
                ("Y", y_type, y_values, y_values_dropdown, vary_seeds_y),
                ("Z", z_type, z_values, z_values_dropdown, vary_seeds_z)):
            option = find_axis_option(options, axis_type, f"{name} type")
            values = process_axis(p, name, option, values_text, values_dropdown, csv_mode)
            if not no_fixed_seeds:
                values = fix_axis_seeds(option, values)
            axes.append(PlotAxis(name, option, values,
                                 values_text_for_infotext(option, values_text, values_dropdown, csv_mode),
                                 vary_seeds=bool(vary)))
        x, y, z = axes

        cell_count = len(x.values) * len(y.values) * len(z.values)
        if cell_count > MAX_GRID_CELLS:
            raise ValueError(f"X/Y/Z plot: {len(x.values)} x {len(y.values)} x {len(z.values)} = {cell_count} cells, "
                             f"more than the limit of {MAX_GRID_CELLS}")
        grid_mp = round(cell_count * p.width * p.height / 1000000)
        if grid_mp >= opts.img_max_size_mp:
            raise ValueError(f"Resulting grid would be too large ({grid_mp} MPixels) "
                             f"(max configured size is {opts.img_max_size_mp} MPixels)")

        image_cell_count = p.n_iter * p.batch_size
        print(f"X/Y/Z plot will create {cell_count * image_cell_count} images on "
              f"{len(z.values)} {len(x.values)}x{len(y.values)} grid{'s' if len(z.values) > 1 else ''}"
              f"{f'; {image_cell_count} images per cell' if image_cell_count > 1 else ''}. "
              f"(Total steps to process: {total_steps(p, axes)})")
        state.xyz_plot_x = AxisInfo(x.option, x.values)
        state.xyz_plot_y = AxisInfo(y.option, y.values)
        state.xyz_plot_z = AxisInfo(z.option, z.values)
        first, second = processing_order(x.option, y.option, z.option)

        previous_max_pixels = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # the img_max_size_mp check above stands in for Pillow's while the grid is built
        try:
            # the request's own overrides as the plot's layer: kept afterwards only if the request asks for that
            with runtime_utils.temporary_opts(p.override_settings, p.override_settings_restore_afterwards):
                cell = CellRunner(p, axes, bool(no_fixed_seeds), self.title())
                processed = draw_xyz_grid(
                    p, xs=x.values, ys=y.values, zs=z.values,
                    x_labels=[x.option.format_value(p, x.option, v) for v in x.values],
                    y_labels=[y.option.format_value(p, y.option, v) for v in y.values],
                    z_labels=[z.option.format_value(p, z.option, v) for v in z.values],
                    cell=cell, draw_legend=draw_legend, include_lone_images=include_lone_images,
                    include_sub_grids=include_sub_grids, first_axes_processed=first,
                    second_axes_processed=second, margin_size=int(margin_size or 0))
        finally:
            Image.MAX_IMAGE_PIXELS = previous_max_pixels

        if not processed.images:
            if cell.first_error is not None:
                raise cell.first_error
            return processed
        return self.finish(p, processed, cell.grid_infotexts, len(z.values), include_lone_images, include_sub_grids)

    @staticmethod
    def finish(p, processed, grid_infotexts, z_count, include_lone_images, include_sub_grids):
        """Puts the grid infotexts in, saves the grids, and keeps the sub-grids and cells only when asked to."""
        grid_count = 1 + z_count
        processed.infotexts[:grid_count] = [text if text is not None else processed.infotexts[i]
                                            for i, text in enumerate(grid_infotexts)]
        if opts.enable_pnginfo:
            for image, text in zip(processed.images[:grid_count], processed.infotexts[:grid_count]):
                image.info["parameters"] = text
        processed.info = processed.infotexts[0]
        if not include_lone_images:
            processed.images = processed.images[:grid_count]
            processed.infotexts = processed.infotexts[:grid_count]
        if opts.grid_save and not p.do_not_save_grid:
            for g in range(grid_count if include_sub_grids and z_count > 1 else 1):
                seed_index = max(g - 1, 0) * (len(processed.all_seeds) // z_count)
                images.save_image(processed.images[g], p.outpath_grids, "xyz_grid", info=processed.infotexts[g],
                                  extension=opts.grid_format, prompt=processed.all_prompts[seed_index],
                                  seed=processed.all_seeds[seed_index], grid=True, p=processed)
        if not include_sub_grids:
            del processed.images[1:grid_count]
            del processed.infotexts[1:grid_count]
        return processed

