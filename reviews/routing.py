from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from reviews.consumers import ReviewWatchConsumer

# The feed is authenticated by the session cookie, which a browser also sends to a WebSocket
# opened by another site's page: accept only pages served from our own hosts.
websocket_urlpatterns = [path("ws/reviews/<int:pk>/", AllowedHostsOriginValidator(ReviewWatchConsumer.as_asgi()))]
