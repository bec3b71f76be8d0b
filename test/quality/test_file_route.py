"""GET /file=<path> (the UI's route for extension assets and generated images) on the real route, in this process:
what it serves, and that nothing outside the extension, output and allowed folders leaks, however it is named."""

import argparse
import os

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modules import file_route, paths_internal, shared

ASSET = "red,circle\n"


@pytest.fixture
def served(tmp_path):
    """A client of the route, an extension with an asset, a generated image, a secret outside, a link to it."""
    extension = os.path.join(paths_internal.extensions_dir, "file-ext")
    os.makedirs(os.path.join(extension, "assets"), exist_ok=True)
    with open(os.path.join(extension, "assets", "tags.csv"), "w", encoding="utf8") as file:
        file.write(ASSET)
    outputs = os.path.join(paths_internal.default_output_dir, "txt2img-images")
    os.makedirs(outputs, exist_ok=True)
    with open(os.path.join(outputs, "file-route.png"), "wb") as file:
        file.write(b"\x89PNG not really")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    link = os.path.join(extension, "assets", "link-to-secret.txt")
    if not os.path.lexists(link):
        os.symlink(secret, link)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "shared.txt").write_text("allowed")
    app = FastAPI()
    flags = argparse.Namespace(gradio_allowed_path=[str(allowed)])
    file_route.add_route(app, "/", shared.opts, flags)
    yield TestClient(app), secret, allowed
    os.remove(link)


@pytest.mark.parametrize("path", ["extensions/file-ext/assets/tags.csv", "extensions/file-ext/./assets/tags.csv"])
def test_an_extension_asset_is_served(served, path):
    client, _, _ = served
    response = client.get(f"/file={path}")
    assert response.status_code == 200 and response.text == ASSET


def test_generated_images_builtin_extension_files_and_allowed_paths_are_served(served):
    client, _, allowed = served
    absolute = os.path.join(paths_internal.default_output_dir, "txt2img-images", "file-route.png")
    assert client.get(f"/file={absolute}").content == b"\x89PNG not really"
    assert client.get("/file=outputs/txt2img-images/file-route.png").status_code == 200
    assert client.get("/file=extensions-builtin/prompt-bracket-checker/javascript/prompt-bracket-checker.js") \
        .status_code == 200
    assert client.get(f"/file={allowed}/shared.txt").text == "allowed"
    scratch = os.path.join(paths_internal.data_path, "tmp")
    os.makedirs(scratch, exist_ok=True)
    with open(os.path.join(scratch, "extPath.txt"), "w", encoding="utf8") as file:
        file.write("extensions/x")
    assert client.get("/file=tmp/extPath.txt").text == "extensions/x", "A1111 extensions pass files to the page here"


@pytest.mark.parametrize("path", ["config.json", "extensions/file-ext/../../config.json",
                                  "extensions/file-ext/%2e%2e/%2e%2e/config.json", "/etc/passwd",
                                  "extensions/file-ext/assets/link-to-secret.txt", "modules/shared.py",
                                  "extensions/file-ext/assets", "extensions/file-ext/assets/missing.csv",
                                  "../../../../etc/passwd", "outputs/../config.json"])
def test_nothing_else_is_served(served, path):
    client, secret, _ = served
    response = client.get(f"/file={path}")
    assert response.status_code == 404 and "TOP-SECRET-CONTENT" not in response.text
    assert client.get(f"/file={secret}").status_code == 404
