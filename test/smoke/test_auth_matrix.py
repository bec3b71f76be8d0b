"""Every route the server serves (its FastAPI routes from /openapi.json and the docs, Gradio's routes under the UI's
mount) under each auth configuration: without credentials, or with wrong ones, each answers 401, but for the UI's
login page when the UI has a login; with credentials the server's own routes answer."""

import re

import gradio as gr
import pytest
import requests
from gradio.routes import App

TIMEOUT_S = 60
API_USER, UI_USER = ("alice", "api-pw"), ("bob", "ui-pw")
DOCS = [("GET", "/docs"), ("GET", "/redoc"), ("GET", "/openapi.json"), ("GET", "/docs/oauth2-redirect")]
CONFIGS = {
    "api-auth, API only": (["--api-auth", ":".join(API_USER)], True),
    "gradio-auth, UI only": (["--gradio-auth", ":".join(UI_USER)], False),
    "gradio-auth, UI and API": (["--api", "--gradio-auth", ":".join(UI_USER)], False),
    "both, UI and API": (["--api", "--api-auth", ":".join(API_USER), "--gradio-auth", ":".join(UI_USER)], False),
    "api-auth, UI and API": (["--api", "--api-auth", ":".join(API_USER)], False),
}
LOGIN_PAGE = {"/", "/login", "/login/", "/config", "/config/", "/theme.css", "/favicon.ico", "/manifest.json",
              "/gradio_api/theme.css"}
LOGIN_PAGE_PREFIXES = ("/assets/", "/static/", "/svelte/", "/login_check", "/gradio_api/login_check")


def flattened(routes, prefix: str = ""):
    for route in routes:
        if hasattr(route, "original_router"):  # a router Gradio includes
            yield from flattened(route.original_router.routes, prefix + route.include_context.prefix)
            continue
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        yield ("GET" if "GET" in methods else methods[0]), prefix + route.path


def gradio_routes() -> list[tuple[str, str]]:
    """(method, path) of every route Gradio serves for a UI mounted at /, from a throw-away app of this Gradio."""
    routes = list(flattened(App.create_app(gr.Blocks()).routes))
    assert ("POST", "/gradio_api/upload") in routes and ("GET", "/gradio_api/file={path_or_url:path}") in routes
    return routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def is_login_page(path: str) -> bool:
    return path in LOGIN_PAGE or path.startswith(LOGIN_PAGE_PREFIXES)


def server_routes(url: str, auth) -> list[tuple[str, str]]:
    schema = requests.get(f"{url}/openapi.json", auth=auth, timeout=TIMEOUT_S).json()
    return [(method.upper(), path) for path, item in schema["paths"].items() for method in item] + DOCS


def call(url: str, method: str, path: str, **kwargs) -> requests.Response:
    """The answer's status and headers; its body is read only when asked for (GET /sdapi/v2/events never ends)."""
    return requests.request(method, url + concrete(path), timeout=TIMEOUT_S, allow_redirects=False, stream=True,
                            **kwargs)


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def configured(request, server_factory):
    args, nowebui = CONFIGS[request.param]
    server = server_factory(args, nowebui=nowebui)
    yield request.param, server
    server.stop()


def test_no_route_answers_without_valid_credentials(configured):
    name, server = configured
    args, nowebui = CONFIGS[name]
    user = API_USER if "--api-auth" in args else UI_USER
    own = server_routes(server.url, user)
    if "--api" in args or nowebui:
        assert ("POST", "/sdapi/v1/txt2img") in own
    else:
        assert ("POST", "/sdapi/v1/txt2img") not in own, "no REST API without --api (extensions add their own routes)"
    assert ("POST", "/internal/progress") in own
    has_login_page = "--gradio-auth" in args
    routes = own + ([] if nowebui else gradio_routes())
    open_routes, failures = [], []
    for method, path in routes:
        if has_login_page and is_login_page(path):
            open_routes.append(path)
            continue
        for credentials in (None, (user[0], "wrong"), ("mallory", user[1])):
            answer = call(server.url, method, path, auth=credentials)
            if answer.status_code != 401:
                failures.append((method, path, credentials, answer.status_code))
    assert failures == []
    assert not has_login_page or "/" in open_routes
    assert call(server.url, "GET", "/config").status_code == 401, "the UI's configuration only after a login"
    if has_login_page:
        login = requests.post(f"{server.url}/login", data={"username": UI_USER[0], "password": UI_USER[1]},
                              timeout=TIMEOUT_S)
        assert login.status_code == 200
        assert call(server.url, "GET", "/config", cookies=login.cookies).status_code == 200
        progress = call(server.url, "POST", "/internal/progress", json={"id_task": "task(x)"}, cookies=login.cookies)
        assert progress.status_code == 200 and progress.json()["active"] is False, "the page's progress calls"


def test_with_credentials_the_servers_own_routes_answer(configured):
    name, server = configured
    args, _ = CONFIGS[name]
    users = ([API_USER] if "--api-auth" in args else []) + ([UI_USER] if "--gradio-auth" in args else [])
    for user in users:
        for method, path in server_routes(server.url, user):
            if method == "GET" and "{" not in path:
                answer = call(server.url, method, path, auth=user)
                assert answer.status_code == 200, (user[0], path, answer.status_code)
