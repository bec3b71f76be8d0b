"""The output panel of txt2img/img2img (gallery, generation info, send-to buttons) and the generation wiring."""

import csv
import html
import json
import os
import types
import zipfile
from dataclasses import dataclass

import gradio as gr

from modules import call_queue, images, infotext_utils, output_paths, paths_internal, shared, ui_progress
from modules.ui_components import create_refresh_button  # noqa: F401 (A1111 name)

GALLERY_HEIGHT = 420


def plaintext_to_html(text: str, classname: str | None = None) -> str:
    lines = "<br>\n".join(html.escape(line) for line in (text or "").split("\n"))
    return f"<p class='{classname}'>{lines}</p>" if classname else f"<p>{lines}</p>"


@dataclass
class OutputPanel:
    gallery: gr.Gallery
    generation_info: gr.Textbox
    infotext: gr.HTML
    html_log: gr.HTML
    progress_bar: gr.HTML
    live_preview: gr.HTML
    selected_index: gr.State
    button_send_img2img: gr.Button
    button_send_inpaint: gr.Button


def create_output_panel(tabname: str) -> OutputPanel:
    with gr.Column(elem_id=f"{tabname}_results", elem_classes="results-column"):
        progress_bar = gr.HTML("", elem_id=f"{tabname}_progress", elem_classes="progress-holder", padding=False)
        with gr.Column(elem_id=f"{tabname}_gallery_container", elem_classes="gallery-container"):
            # shown over the gallery while generating (style.css)
            live_preview = gr.HTML("", elem_id=f"{tabname}_live_preview", elem_classes="live-preview-holder",
                                   padding=False)
            gallery = gr.Gallery(label="Output", show_label=False, elem_id=f"{tabname}_gallery", columns=4,
                                 format="png", type="pil", preview=True, height=GALLERY_HEIGHT, interactive=False,
                                 object_fit="contain")
        with gr.Row(elem_id=f"image_buttons_{tabname}", elem_classes="image-buttons"):
            save = gr.Button("Save", elem_id=f"save_{tabname}", size="sm")
            save_zip = gr.Button("Zip", elem_id=f"save_zip_{tabname}", size="sm")
            button_send_img2img = gr.Button("Send to img2img", elem_id=f"{tabname}_send_to_img2img", size="sm")
            button_send_inpaint = gr.Button("Send to inpaint", elem_id=f"{tabname}_send_to_inpaint", size="sm")
        download_files = gr.File(None, file_count="multiple", interactive=False, show_label=False, visible=False,
                                 elem_id=f"download_files_{tabname}")
        generation_info = gr.Textbox(visible="hidden", elem_id=f"generation_info_{tabname}")
        generation_info_button = gr.Button(visible="hidden", elem_id=f"{tabname}_generation_info_button")
        infotext = gr.HTML(elem_id=f"html_info_{tabname}", elem_classes="infotext")
        html_log = gr.HTML(elem_id=f"html_log_{tabname}", elem_classes="html-log")
        selected_index = gr.State(None)

    def select_image(generation_info_js: str, event: gr.SelectData):
        infotexts = _info(generation_info_js).get("infotexts") or []
        index = event.index
        text = infotexts[index] if isinstance(index, int) and 0 <= index < len(infotexts) else None
        return index, (plaintext_to_html(text) if text is not None else gr.skip())

    gallery.select(fn=select_image, inputs=[generation_info], outputs=[selected_index, infotext],
                   show_progress="hidden", api_visibility="private")

    def show_selected_infotext(generation_info_js: str, index):
        infotexts = _info(generation_info_js).get("infotexts") or []
        return plaintext_to_html(infotexts[index]) if isinstance(index, int) and 0 <= index < len(infotexts) else \
            gr.skip()

    for button, make_zip in ((save, False), (save_zip, True)):
        def save_clicked(info, gallery_value, index, make_zip=make_zip):
            return save_files(info, gallery_value or [], make_zip, index)

        button.click(fn=call_queue.wrap_gradio_call(save_clicked, extra_outputs=[gr.update()]),
                     inputs=[generation_info, gallery, selected_index], outputs=[download_files, html_log],
                     show_progress="hidden", api_visibility="private")

    # A1111's scripts click it to show the selected image's infotext
    generation_info_button.click(fn=show_selected_infotext, inputs=[generation_info, selected_index],
                                 outputs=[infotext], show_progress="hidden", api_visibility="private")
    return OutputPanel(gallery, generation_info, infotext, html_log, progress_bar, live_preview, selected_index,
                       button_send_img2img, button_send_inpaint)


def _info(generation_info_js: str) -> dict:
    try:
        info = json.loads(generation_info_js or "{}")
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


LOG_FIELDS = ["prompt", "seed", "width", "height", "sampler", "cfgs", "steps", "filename", "negative_prompt",
              "sd_model_name", "sd_model_hash"]


def pil_image(value):
    """A Gradio image value as PIL: PIL itself, a gallery item (image, caption), a file path, or a dict (an image
    editor's "composite"/"background", a gallery file's "image"/"path")."""
    if isinstance(value, (tuple, list)):
        value = value[0]
    if isinstance(value, dict):
        value = value.get("composite") or value.get("background") or value.get("image") or value.get("path")
    if isinstance(value, str):
        from PIL import Image

        with Image.open(value) as opened:
            value = opened.copy()
    return value


def save_files(js_data: str, gallery_images: list, do_make_zip: bool, index):
    """The Save / Zip buttons (A1111's): the gallery's images (only the selected one with save_selected_only) saved to
    outdir_save under the usual file-name options, a line per click in its log.csv, and with do_make_zip a .zip of
    them; returns (the files, for download; "Saved: <first file>")."""
    data = _info(js_data)
    opts = shared.opts
    folder = paths_internal.resolve_data_relative(opts.outdir_save)
    if not output_paths.is_inside(folder, paths_internal.data_path):
        raise ValueError(f"outdir_save: {opts.outdir_save!r} is outside the data folder")
    first = data.get("index_of_first_image", 0)
    start = 0
    if isinstance(index, int) and index > -1 and opts.save_selected_only and index >= first:
        gallery_images, start = [gallery_images[index]], index
    os.makedirs(folder, exist_ok=True)
    p = types.SimpleNamespace(**data)
    infotexts = data.get("infotexts") or []
    filenames, fullfns, parsed = [], [], []
    for image_index, item in enumerate(gallery_images, start):
        text = infotexts[image_index] if image_index < len(infotexts) else ""
        parameters = infotext_utils.parse_generation_parameters(text, [])
        parsed.append(parameters)
        p.batch_index = image_index - 1
        fullfn, txt_fullfn = images.save_image(pil_image(item), folder, "", seed=parameters.get("Seed"),
                                               prompt=parameters.get("Prompt"), extension=opts.samples_format,
                                               info=text, grid=image_index < first, p=p,
                                               save_to_dirs=opts.use_save_to_dirs_for_ui)
        filenames.append(os.path.relpath(fullfn, folder))
        fullfns.append(fullfn)
        if txt_fullfn:
            filenames.append(os.path.basename(txt_fullfn))
            fullfns.append(txt_fullfn)
    if not parsed:
        return gr.update(), plaintext_to_html("Nothing to save")
    _append_log(folder, data, parsed[0], filenames[0])
    if do_make_zip:
        fullfns.insert(0, _zip(folder, p, parsed, filenames, fullfns))
    return gr.update(value=fullfns, visible=True), plaintext_to_html(f"Saved: {filenames[0]}")


def _append_log(folder: str, data: dict, parameters: dict, filename: str) -> None:
    with open(os.path.join(folder, "log.csv"), "a", encoding="utf8", newline="") as file:
        writer = csv.writer(file)
        if file.tell() == 0:
            writer.writerow(LOG_FIELDS)
        writer.writerow([parameters.get("Prompt"), parameters.get("Seed"), data.get("width"), data.get("height"),
                         data.get("sampler_name"), data.get("cfg_scale"), data.get("steps"), filename,
                         parameters.get("Negative prompt"), data.get("sd_model_name"), data.get("sd_model_hash")])


def _zip(folder: str, p, parsed: list[dict], filenames: list[str], fullfns: list[str]) -> str:
    p.all_seeds = [parameters.get("Seed") for parameters in parsed]
    namegen = images.FilenameGenerator(p, parsed[0].get("Seed"), parsed[0].get("Prompt"), None, True)
    name = namegen.apply(shared.opts.grid_zip_filename_pattern or "[datetime]_[[model_name]]_[seed]-[seed_last]")
    path = os.path.join(folder, f"{output_paths.file_name(name)}.zip")
    with zipfile.ZipFile(path, "w") as archive:
        for filename, fullfn in zip(filenames, fullfns):
            archive.write(fullfn, filename)
    return path


def selected_image_and_infotext(gallery_value, selected_index, generation_info_js):
    """The image picked in the gallery (else the first one that is not the grid) and its infotext."""
    if not gallery_value:
        return None, None
    info = _info(generation_info_js)
    index = selected_index if isinstance(selected_index, int) else info.get("index_of_first_image", 0)
    index = min(max(index, 0), len(gallery_value) - 1)
    image = pil_image(gallery_value[index])
    infotexts = info.get("infotexts") or []
    infotext = infotexts[index] if index < len(infotexts) else None
    if infotext is None and hasattr(image, "info"):
        infotext = image.info.get("parameters")
    return image, infotext


def selected_seed(gallery_value, selected_index, generation_info_js, subseed: bool = False):
    """The seed (or variation seed) of the selected image, for the ♻️ buttons; None when there is no result."""
    info = _info(generation_info_js)
    seeds = info.get("all_subseeds" if subseed else "all_seeds") or []
    if not seeds:
        return None
    index = selected_index if isinstance(selected_index, int) else info.get("index_of_first_image", 0)
    index -= info.get("index_of_first_image", 0)
    return seeds[index] if 0 <= index < len(seeds) else seeds[0]


def connect_generation(tabname: str, toprow, panel: OutputPanel, make_spec, finisher, fields: dict, jobs,
                       script_inputs=()):
    """Wires toprow.submit to a job of make_spec(script_args=[values of script_inputs], **{name: value of
    fields[name]}) on the job queue `jobs`, streaming its place in line, then its progress, into the panel; the
    toprow's Interrupt and Skip act on that job.

    finisher(processed) runs in the job and returns A1111's txt2img()/img2img() result: (images,
    generation_info_js, html_info, comments_html)."""
    names = list(fields)
    # "hidden": out of sight but in the page, where A1111's scripts and extensions look buttons up by id
    running_buttons = (gr.update(visible="hidden"), gr.update(visible=True), gr.update(visible=True))
    idle_buttons = (gr.update(visible=True), gr.update(visible="hidden"), gr.update(visible="hidden"))
    job_id = gr.State(None)

    def generate(*values):
        kwargs = dict(zip(names, values))
        try:
            spec = make_spec(script_args=values[len(names):], **kwargs)
        except (ValueError, TypeError) as error:  # e.g. no input image, a script value no job can hold
            yield ([], "", "", ui_progress.error_html(f"{type(error).__name__}: {error}"), "", "") + idle_buttons \
                + (None, None)
            return
        started = False
        for update in ui_progress.stream_job(jobs, spec, finisher):
            if not update.done:
                preview = ui_progress.live_preview_html(update.live_preview) if update.live_preview else gr.skip()
                # the first update clears the previous results, so that an old picture or error never passes for
                # the new one
                results = (gr.skip(),) * 4 if started else ([], "", "", "")
                started = True
                yield results + (update.progress_bar, preview) + running_buttons + (gr.skip(), update.job_id)
                continue
            result, error = update.result
            if error is not None:
                outputs = ([], "", "", ui_progress.error_html(error))
            else:
                images, info_js, info_html, comments_html = result
                # open the first picture that is not the grid in the gallery's large view, as A1111 shows it
                first = _info(info_js).get("index_of_first_image", 0) if images else None
                outputs = (gr.Gallery(value=images, selected_index=first), info_js, info_html, comments_html)
            yield outputs + ("", "") + idle_buttons + (None, None)

    outputs = [panel.gallery, panel.generation_info, panel.infotext, panel.html_log, panel.progress_bar,
               panel.live_preview, toprow.submit, toprow.interrupt, toprow.skip, panel.selected_index, job_id]
    toprow.submit.click(fn=generate, inputs=[*fields.values(), *script_inputs], outputs=outputs, show_progress="hidden",
                        api_name=tabname, concurrency_limit=None)
    toprow.interrupt.click(fn=lambda job: ui_progress.stop_job(jobs, job), inputs=[job_id], queue=False,
                           api_visibility="private")
    toprow.skip.click(fn=lambda job: ui_progress.stop_job(jobs, job, skip=True), inputs=[job_id], queue=False,
                      api_visibility="private")
