"""M12: OpenAPI fuzzing (schemathesis) against a live server, every documented operation, a bounded number of examples
each, generations capped small: no 5xx answer, and every answer (errors included) matches the documented schema:
its status code, content type and body. Like A1111's pydantic models, ours coerce loose input ("1" for 1), so data
the schema would call invalid may be accepted: schemathesis' negative-data check is not one of these."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from test.conftest import REPO_ROOT

EXAMPLES_PER_OPERATION = 8
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]
CAPS = {"steps": 2, "n_iter": 1, "batch_size": 1, "width": 64, "height": 64, "hr_second_pass_steps": 1,
        "hr_resize_x": 0, "hr_resize_y": 0, "hr_scale": 1.0, "upscaling_resize": 1.0, "upscaling_resize_w": 64,
        "upscaling_resize_h": 64}
"""what a fuzzed body may ask at most, so that a generation or an upscale stays tiny"""
SMALL_BY_DEFAULT = {"/sdapi/v1/txt2img": ("steps", "width", "height"), "/sdapi/v1/img2img": ("steps", "width", "height")}
"""fields whose defaults (50 steps, 512x512) are not tiny: a body that leaves them out gets the cap"""
UNSAFE_OPTIONS = ("sd_model_checkpoint", "sd_vae", "outdir_", "temp_dir")
"""options a fuzzed POST /options must not change under the other operations (loading a model, moving outputs)"""

NOT_FUZZED = {"/sdapi/v2/events": "a stream that ends only when the client leaves (test_jobs_api reads it)",
              "/sdapi/v2/queue/pause": "it holds every later generation of the other operations (503 for /sdapi/v1; "
                                       "test_jobs_api pauses and resumes)",
              "/sdapi/v1/interrogate": "it answers 501 by design (no captioning model is included); "
                                       "test_a1111_routes checks its answers"}

schema = schemathesis.openapi.from_path(f"{REPO_ROOT}/test/golden/openapi.json").exclude(path=list(NOT_FUZZED))
schema.config.phases.update(phases=["examples", "fuzzing"])  # the coverage phase alone sends hundreds per operation


def capped_value(key: str, value):
    if key in CAPS and isinstance(value, int | float) and not isinstance(value, bool):
        return min(value, CAPS[key])
    return value


@schema.hook
def map_body(context, body):
    if not isinstance(body, dict):
        return body
    capped = {key: CAPS[key] for key in SMALL_BY_DEFAULT.get(context.operation.path, ())}
    capped.update({key: capped_value(key, value) for key, value in body.items()})
    if context.operation.path == "/sdapi/v2/jobs" and isinstance(capped.get("params"), dict):
        # the job's params are a /sdapi/v1 body: as small
        params = {key: CAPS[key] for key in SMALL_BY_DEFAULT["/sdapi/v1/txt2img"]}
        params.update({key: capped_value(key, value) for key, value in capped["params"].items()})
        capped["params"] = params
    if context.operation.path == "/sdapi/v1/options":
        capped = {key: value for key, value in capped.items() if not key.startswith(UNSAFE_OPTIONS)}
    return capped


@pytest.fixture(scope="module")
def fuzzed_server(server_factory):
    server = server_factory()
    yield server
    server.stop()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_operation_fails_or_breaks_its_schema(case, fuzzed_server):
    response = case.call(base_url=fuzzed_server.url, timeout=120)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:1000]}"
    case.validate_response(response, checks=CHECKS)
