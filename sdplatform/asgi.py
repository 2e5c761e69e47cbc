"""ASGI entry point: HTTP to Django, websockets through session auth to the apps' consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdplatform.settings")
# Build the Django app first: it sets up the app registry, and the imports
# below load models (the consumers, the auth middleware) which need it ready.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.channels import OriginOrTokenValidator, TokenAuthMiddleware  # noqa: E402
from generation.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginOrTokenValidator(AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))),
    }
)
