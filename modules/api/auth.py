"""--api-auth "user:password[,user2:password2]": HTTP Basic authentication on the API's paths."""

import base64
import binascii
from secrets import compare_digest

from modules.api.errors import error_response

AUTH_HEADERS = {"WWW-Authenticate": "Basic"}


def parse_credentials(text: str) -> dict[str, str]:
    """{user: password}; a password may itself contain ':'."""
    credentials = {}
    for entry in text.split(","):
        user, separator, password = entry.strip().partition(":")
        if not separator or not user:
            raise ValueError(f"--api-auth: expected user:password, got {entry.strip()!r}")
        credentials[user] = password
    return credentials


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, separator, password = base64.b64decode(encoded.strip(), validate=True).decode("utf8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if separator else None


def is_authorized(credentials: dict[str, str], header: str | None) -> bool:
    given = _basic_credentials(header)
    if given is None:
        return False
    user, password = given
    matches = [compare_digest(user.encode(), known_user.encode()) & compare_digest(password.encode(), known.encode())
               for known_user, known in credentials.items()]
    return any(matches)


class BasicAuthMiddleware:
    """Answers 401 to a request for a protected path that lacks valid credentials."""

    def __init__(self, app, credentials: dict[str, str], protected_prefixes: tuple[str, ...]):
        self.app = app
        self.credentials = credentials
        self.protected_prefixes = protected_prefixes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(self.protected_prefixes):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not is_authorized(self.credentials, header):
                response = error_response(401, "HTTPException", "Incorrect username or password",
                                          errors="401: Incorrect username or password", headers=AUTH_HEADERS)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
