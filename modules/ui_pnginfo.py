"""The PNG Info tab: shows the generation parameters stored in an image and sends them to the other tabs."""

import html
from dataclasses import dataclass

import gradio as gr

from modules import images
from modules.ui_common import plaintext_to_html


@dataclass
class PngInfoTab:
    image: gr.Image
    html: gr.HTML
    generation_info: gr.Textbox
    send_txt2img: gr.Button
    send_img2img: gr.Button
    send_inpaint: gr.Button


def run_pnginfo(image):
    """(generation parameters text, HTML listing every text item of the image); A1111's extras.run_pnginfo."""
    if image is None:
        return "", ""
    geninfo, items = images.read_info_from_image(image)
    items = {**({"parameters": geninfo} if geninfo is not None else {}), **items}
    blocks = [f"<div><p><b>{html.escape(str(key))}</b></p>{plaintext_to_html(str(text))}</div>"
              for key, text in items.items()]
    info = "\n".join(blocks) or "<div><p>Nothing found in the image.</p></div>"
    return geninfo or "", info


def create_tab() -> PngInfoTab:
    with gr.Row(equal_height=False):
        with gr.Column(variant="panel"):
            image = gr.Image(elem_id="pnginfo_image", label="Source", type="pil", image_mode="RGBA",
                             sources=["upload", "clipboard"], height=420)
        with gr.Column(variant="panel"):
            info_html = gr.HTML(elem_id="pnginfo_html", elem_classes="infotext")
            generation_info = gr.Textbox(visible=False, elem_id="pnginfo_generation_info")
            with gr.Row(elem_id="pnginfo_buttons"):
                send_txt2img = gr.Button("Send to txt2img", elem_id="pnginfo_send_to_txt2img", size="sm")
                send_img2img = gr.Button("Send to img2img", elem_id="pnginfo_send_to_img2img", size="sm")
                send_inpaint = gr.Button("Send to inpaint", elem_id="pnginfo_send_to_inpaint", size="sm")
    image.change(fn=run_pnginfo, inputs=[image], outputs=[generation_info, info_html], show_progress="hidden",
                 api_visibility="private")
    return PngInfoTab(image, info_html, generation_info, send_txt2img, send_img2img, send_inpaint)
