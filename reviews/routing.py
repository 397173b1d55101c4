from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from episodes.ws_auth import TokenAuthMiddleware
from reviews.consumers import ReviewWatchConsumer

# The feed is authenticated by the session cookie (or a token), and a browser sends the cookie to
# a WebSocket opened by another site's page too: accept only pages served from our own hosts.
websocket_urlpatterns = [
    path("ws/reviews/<int:pk>/",
         # Channels routes ASGI apps with Django's path(); Django's stubs expect a view there.
         AuthMiddlewareStack(TokenAuthMiddleware(AllowedHostsOriginValidator(ReviewWatchConsumer.as_asgi())))),  # type: ignore[arg-type]
]
