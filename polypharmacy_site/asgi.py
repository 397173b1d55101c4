"""ASGI entry point served by daphne: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "polypharmacy_site.settings")

# Build the Django app first: it sets up the app registry, which consumers' model imports need
# (the channels sample project's order).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from episodes.routing import websocket_urlpatterns  # noqa: E402
from episodes.ws_auth import TokenAuthMiddleware  # noqa: E402
from reviews.routing import websocket_urlpatterns as review_websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns + review_websocket_urlpatterns))),
    }
)
