"""API token authentication for the JSON API, the A1111-compatible API and websockets.

Accepted: ``Authorization: Bearer <token>``, or HTTP Basic with the username
and the token as password (how A1111's ``--api-auth`` clients send it).
Tokens never authenticate the website's pages.
"""

import base64
import binascii

from django.http import HttpRequest

from accounts.models import ApiToken, User


def credentials(authorization: str) -> tuple[str | None, str] | None:
    """(username or None, token) from an Authorization header value, or None."""
    scheme, _, value = authorization.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return None, value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, token = decoded.partition(":")
        if sep and token:
            return username, token
    return None


def user_for_token(username: str | None, token: str) -> User | None:
    user = ApiToken.authenticate(token)
    if user is None or (username is not None and username != user.get_username()):
        return None
    return user


def authenticate_request(request: HttpRequest) -> User | None:
    found = credentials(request.headers.get("Authorization", ""))
    return user_for_token(*found) if found else None
