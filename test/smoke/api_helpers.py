"""Helpers for the API smoke tests: an HTTP session that checks every answer, and image/infotext checks."""

import base64
import io
import json

import requests
from PIL import Image

from modules.infotext_utils import parse_generation_parameters

REQUEST_TIMEOUT_S = 600
ERROR_KEYS = {"error", "detail", "body", "errors"}
TINY = {"width": 64, "height": 64, "steps": 2, "seed": 1234}


def _check_every_answer(response: requests.Response, *args, **kwargs) -> None:
    assert "X-Process-Time" in response.headers, f"{response.request.method} {response.url}: no X-Process-Time"
    float(response.headers["X-Process-Time"])
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        assert set(response.json()) == ERROR_KEYS, response.text


class ApiClient:
    """requests against one server; every answer must carry X-Process-Time and errors the JSON error shape."""

    def __init__(self, base_url: str, auth=None):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.auth = auth
        self.session.hooks["response"].append(_check_every_answer)

    def url(self, route: str) -> str:
        return route if route.startswith("http") else f"{self.base_url}{route if route.startswith('/') else '/sdapi/v1/' + route}"

    def get(self, route: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(route), timeout=REQUEST_TIMEOUT_S, **kwargs)

    def post(self, route: str, payload=None, **kwargs) -> requests.Response:
        return self.session.post(self.url(route), json=payload, timeout=REQUEST_TIMEOUT_S, **kwargs)

    def ok(self, method: str, route: str, payload=None):
        response = self.get(route) if method == "GET" else self.post(route, payload)
        assert response.status_code == 200, f"{method} {route}: {response.status_code} {response.text[:2000]}"
        return response.json()


def to_base64(image: Image.Image, data_uri: bool = False, image_format: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{image_format.lower()};base64,{encoded}" if data_uri else encoded


def from_base64(encoded: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    image.load()
    return image


def gradient_image(width: int = 64, height: int = 64) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    return image


def centre_mask(width: int = 64, height: int = 64) -> Image.Image:
    """White (repaint) in the middle half, black around it."""
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    return mask


def check_generation(result: dict, expected_count: int) -> list[Image.Image]:
    """The images decode; each carries a "parameters" infotext with Steps/Sampler/Seed/Size, equal to the info JSON's
    infotext for it; Size is the image's size (a grid, before index_of_first_image, tells its cells' size), with hires
    fix the first pass's size, as A1111 writes it."""
    info = json.loads(result["info"])
    first_pass = (info["width"], info["height"]) if result.get("parameters", {}).get("enable_hr") else None
    assert len(result["images"]) == expected_count
    decoded = [from_base64(encoded) for encoded in result["images"]]
    for index, image in enumerate(decoded):
        assert image.format == "PNG"
        text = image.info["parameters"]
        params = parse_generation_parameters(text)
        for key in ("Steps", "Sampler", "Seed", "Size-1", "Size-2"):
            assert key in params, f"{key} missing from {text!r}"
        if index >= info["index_of_first_image"]:
            assert (int(params["Size-1"]), int(params["Size-2"])) == (first_pass or image.size)
        assert text == info["infotexts"][index]
    return decoded


def image_params(image: Image.Image) -> dict:
    return parse_generation_parameters(image.info["parameters"])
