"""M18 (routes) against the real server: A1111's /hypernetworks, /realesrgan-models and /interrogate answer (lists
empty here; interrogation a clear 501 naming what is missing, bad input a 4xx first), and /docs and /redoc work
offline: their scripts and styles come from this server, not a CDN."""

import json
import re

from test.smoke.api_helpers import ApiClient, gradient_image, to_base64


def test_hypernetworks_and_realesrgan_models_are_empty_lists(base_url):
    api = ApiClient(base_url)
    assert api.ok("GET", "hypernetworks") == []
    assert api.ok("GET", "realesrgan-models") == []


def test_interrogate_names_the_missing_model_after_checking_the_request(base_url):
    api = ApiClient(base_url)
    unknown = api.post("interrogate", {"image": to_base64(gradient_image()), "model": "blip"})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("model: ")
    undecodable = api.post("interrogate", {"image": "bm90IGFuIGltYWdl", "model": "clip"})
    assert undecodable.status_code == 422 and undecodable.json()["detail"].startswith("image: ")
    for model in ("clip", "deepdanbooru"):
        answer = api.post("interrogate", {"image": to_base64(gradient_image()), "model": model})
        assert answer.status_code == 501
        assert "no captioning model" in answer.json()["detail"]


def test_docs_and_redoc_load_their_assets_from_this_server(base_url):
    api = ApiClient(base_url)
    for page in ("/docs", "/redoc"):
        html = api.get(page)
        assert html.status_code == 200
        assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css))["']""", html.text)
        assert assets, html.text[:500]
        assert not [asset for asset in assets if asset.startswith(("http:", "https:", "//"))], assets
        for asset in assets:
            served = api.get(asset)
            assert served.status_code == 200 and len(served.content) > 10_000, asset


def test_restore_faces_without_a_restorer_says_so_in_the_info(base_url):
    from test.smoke.api_helpers import TINY

    result = ApiClient(base_url).ok("POST", "txt2img", {**TINY, "restore_faces": True})
    info = json.loads(result["info"])
    assert "Face restoration skipped: no face restoration model is installed" in info["comments"]
    assert info["restore_faces"] is False and "Face restoration" not in info["infotexts"][0]
