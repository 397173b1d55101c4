"""``ws/reviews/<session id>/``: the live feed of a review session's steps.

It checks the user may see the session, joins the episode's channel group
(``episodes.live.group_name``) and forwards each ``episode.step`` message to the browser. Steps
reach the group from every way in (pages, REST, WS, MCP), so the page shows them all. It only
listens: actions go through the page's forms, which audit them.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from episodes.live import group_name
from reviews import permissions
from reviews.models import ReviewSession


@database_sync_to_async
def _visible_episode_id(user: Any, pk: int) -> str | None:
    session = ReviewSession.objects.select_related("episode").filter(pk=pk).first()
    if session is None or not permissions.allowed(user, "review.view", owner_id=session.pharmacist_id):
        return None
    return session.episode.episode_id


class ReviewWatchConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        episode_id = None
        if user is not None and user.is_authenticated:
            episode_id = await _visible_episode_id(user, int(self.scope["url_route"]["kwargs"]["pk"]))
        if episode_id is None:
            await self.close(code=4403)  # refused before accepting: the browser sees a failed connect
            return
        self.group = group_name(episode_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass  # a watch feed: the browser has nothing to say

    async def episode_step(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({
            "type": "step", "episode_id": message["episode_id"], "index": message["index"],
            "actor": message["actor"], "action": message["action"], "payload": message["payload"],
        }))
