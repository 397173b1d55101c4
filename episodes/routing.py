from django.urls import path

from episodes.consumers import EnvConsumer

websocket_urlpatterns = [path("ws", EnvConsumer.as_asgi())]
