"""Authentication for the whole server: with --api-auth or --gradio-auth[-path] set, no route answers without HTTP
Basic credentials of either list or the browser UI's login cookie; only the UI's login page is open (and only when
the UI has a login)."""

import base64
import http.cookies
from collections.abc import Callable
from secrets import compare_digest

from starlette.middleware import Middleware

from modules.api.errors import error_response
from modules.api.middleware import BodyLimitMiddleware

AUTH_HEADERS = {"WWW-Authenticate": "Basic"}
LOGIN_PAGE_PATHS = ("/", "/login", "/login/", "/config", "/config/", "/theme.css", "/favicon.ico", "/manifest.json",
                    "/gradio_api/theme.css")
LOGIN_PAGE_PREFIXES = ("/assets/", "/static/", "/svelte/", "/login_check", "/gradio_api/login_check")
"""below the UI's mount path: the login page and what it loads (Gradio itself refuses /config before a login)"""


def parse_credentials(text: str | None, flag: str = "--api-auth") -> list[tuple[str, str]]:
    """"user:password,user2:password2" (or one a line, as --gradio-auth-path files hold them) -> [(user, password)];
    a password may itself contain ':'. One user may have several passwords (the API's and the UI's, say)."""
    credentials = []
    for entry in (text or "").replace("\n", ",").split(","):
        user, separator, password = entry.strip().partition(":")
        if not entry.strip():
            continue
        if not separator or not user:
            raise ValueError(f"{flag}: expected user:password, got {entry.strip()!r}")
        credentials.append((user, password))
    return credentials


def ui_credentials(cmd_opts) -> list[tuple[str, str]]:
    """The browser UI's users: --gradio-auth and the file --gradio-auth-path names."""
    text = cmd_opts.gradio_auth or ""
    if cmd_opts.gradio_auth_path:
        with open(cmd_opts.gradio_auth_path, encoding="utf8") as file:
            text = f"{text},{file.read()}"
    return parse_credentials(text, "--gradio-auth")


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, separator, password = base64.b64decode(encoded.strip(), validate=True).decode("utf8").partition(":")
    except ValueError:  # not base64, not ASCII, not UTF-8
        return None
    return (user, password) if separator else None


def is_authorized(credentials: list[tuple[str, str]], header: str | None) -> bool:
    given = _basic_credentials(header)
    if given is None:
        return False
    user, password = given
    matches = [compare_digest(user.encode(), known_user.encode()) & compare_digest(password.encode(), known.encode())
               for known_user, known in credentials]
    return any(matches)


def _cookies(scope) -> dict[str, str]:
    header = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
    parsed = http.cookies.SimpleCookie()
    try:
        parsed.load(header)
    except http.cookies.CookieError:
        return {}
    return {name: morsel.value for name, morsel in parsed.items()}


class ServerAuthMiddleware:
    """Answers 401 to every request that is not for a public path and carries neither valid Basic credentials nor
    a logged-in UI session (has_ui_session(cookies))."""

    def __init__(self, app, credentials: list[tuple[str, str]], public_paths: frozenset[str] = frozenset(),
                 public_prefixes: tuple[str, ...] = (), has_ui_session: Callable[[dict], bool] = lambda cookies: False):
        self.app = app
        self.credentials = credentials
        self.public_paths = public_paths
        self.public_prefixes = public_prefixes
        self.has_ui_session = has_ui_session

    def _allowed(self, scope) -> bool:
        path = scope["path"]
        if path in self.public_paths or path.startswith(self.public_prefixes):
            return True
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        return is_authorized(self.credentials, header) or self.has_ui_session(_cookies(scope))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            response = error_response(401, "HTTPException", "Incorrect username or password",
                                      errors="401: Incorrect username or password", headers=AUTH_HEADERS)
            await response(scope, receive, send)


def _ui_sessions(app, mount_path: str) -> Callable[[dict], bool]:
    """has_ui_session for the Gradio app mounted on app at mount_path: a cookie holding one of its login tokens."""

    def gradio_app():
        for route in app.router.routes:
            if getattr(route, "path", None) in (mount_path.rstrip("/"), mount_path) and hasattr(route.app, "tokens"):
                return route.app
        return None

    def has_ui_session(cookies: dict) -> bool:
        ui = gradio_app()
        if ui is None:
            return False
        token = cookies.get(f"access-token-{ui.cookie_id}") or cookies.get(f"access-token-unsecure-{ui.cookie_id}")
        return token is not None and token in ui.tokens

    return has_ui_session


def protect_server(app, cmd_opts, ui_mount_path: str | None) -> None:
    """With any auth configured, puts ServerAuthMiddleware inside the app's other middleware (so a 401 still gets
    X-Process-Time, CORS, --api-log) but before the body limit (nothing of a stranger's body is read); ui_mount_path:
    where the browser UI is mounted, None without. Must run before the app serves its first request."""
    if app.middleware_stack is not None:
        raise RuntimeError("protect_server: the app already serves; its middleware can no longer change")
    ui_users = ui_credentials(cmd_opts)
    credentials = ui_users + parse_credentials(cmd_opts.api_auth)
    if not credentials:
        return
    public_paths, public_prefixes, has_ui_session = frozenset(), (), (lambda cookies: False)
    if ui_mount_path is not None and ui_users:
        base = ui_mount_path.rstrip("/")
        public_paths = frozenset({base or "/", *(base + path for path in LOGIN_PAGE_PATHS)})
        public_prefixes = tuple(base + prefix for prefix in LOGIN_PAGE_PREFIXES)
        has_ui_session = _ui_sessions(app, ui_mount_path)
    body_limit = [index for index, entry in enumerate(app.user_middleware) if entry.cls is BodyLimitMiddleware]
    position = body_limit[0] if body_limit else len(app.user_middleware)
    app.user_middleware.insert(position, Middleware(ServerAuthMiddleware, credentials=credentials,
                                                    public_paths=public_paths, public_prefixes=public_prefixes,
                                                    has_ui_session=has_ui_session))
