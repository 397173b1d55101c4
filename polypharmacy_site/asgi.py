"""ASGI entry point (served by uvicorn, ``polypharmacy_site.serve``): the edge
(``polypharmacy_site.edge``) in front of Django for HTTP and Channels for WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "polypharmacy_site.settings")

# Build the Django app first: it sets up the app registry, which consumers' model imports need
# (the channels sample project's order).
django_asgi_app = get_asgi_application()

from channels.routing import URLRouter  # noqa: E402

from episodes import async_store, fastpath  # noqa: E402
from episodes.routing import websocket_urlpatterns  # noqa: E402
from polypharmacy_site.edge import Edge  # noqa: E402
from reviews.routing import websocket_urlpatterns as review_websocket_urlpatterns  # noqa: E402

application = Edge(
    http=django_asgi_app,
    # Each route brings its own authentication (episodes.routing, reviews.routing).
    # channels' stubs want routes of a URLPattern subtype of their own that path() never returns.
    websocket=URLRouter(websocket_urlpatterns + review_websocket_urlpatterns),  # type: ignore[arg-type]
    fast=fastpath.HANDLERS,
    on_shutdown=async_store.close_pools,
)
