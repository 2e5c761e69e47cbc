from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator

from accounts.auth import credentials, user_for_token


def scope_credentials(scope) -> tuple[str | None, str] | None:
    """Token credentials of a websocket handshake: the Authorization header, or ``?token=``."""
    headers = dict(scope.get("headers") or [])
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization:
        return credentials(authorization)
    token = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
    return (None, token) if token else None


class TokenAuthMiddleware(BaseMiddleware):
    """Let API clients open websockets with a token (header or ``?token=``).

    Runs inside the session middleware: a signed-in browser keeps its session
    user; only an anonymous connection is checked for a token. A token that
    does not authenticate leaves the connection anonymous (the consumer refuses it).
    """

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            found = scope_credentials(scope)
            if found:
                token_user = await database_sync_to_async(user_for_token)(*found)
                if token_user is not None:
                    scope = {**scope, "user": token_user}
        return await super().__call__(scope, receive, send)


def has_origin(scope) -> bool:
    return any(name == b"origin" for name, _ in scope.get("headers") or [])


class OriginOrTokenValidator:
    """Browsers must come from our own origin (no cross-site websocket hijacking
    with their cookies); API clients send no Origin and authenticate with a token."""

    def __init__(self, application):
        self.application = application
        self.browser_application = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        if not has_origin(scope) and scope_credentials(scope):
            return await self.application(scope, receive, send)
        return await self.browser_application(scope, receive, send)
