"""Stored public surfaces: the REST API's OpenAPI schema and every option key with its default."""

import difflib

import pytest

from tools.invariants import openapi_schema, options_defaults, snapshot


@pytest.mark.parametrize("tool", [openapi_schema, options_defaults], ids=["openapi", "options"])
def test_surface_matches_its_snapshot(tool):
    current, stored = snapshot.dumps(tool.current()), snapshot.dumps(snapshot.read(tool.SNAPSHOT))
    diff = list(difflib.unified_diff(stored.splitlines(), current.splitlines(), "stored", "current", lineterm="", n=1))
    assert not diff, "\n".join([f"{tool.SNAPSHOT} changed; if deliberate, run: {tool.UPDATE_COMMAND}", *diff[:60]])


def test_openapi_snapshot_has_the_generation_routes():
    paths = snapshot.read(openapi_schema.SNAPSHOT)["paths"]
    assert {"/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/options", "/sdapi/v1/progress"} <= set(paths)
