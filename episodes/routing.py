from django.urls import path

from episodes.consumers import EnvConsumer
from episodes.ws_auth import ApiSocketAuth, SessionOriginValidator

websocket_urlpatterns = [path("ws", ApiSocketAuth(SessionOriginValidator(EnvConsumer.as_asgi())))]
