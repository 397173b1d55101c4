"""``ws/reviews/<session id>/``: the live feed of a review session's steps.

It checks the user may see the session, records the watch in the audit trail when the session
is another user's (a supervisor's: one ``session.viewed`` record per connection, with the IP and
user agent of the connection, page "watch", as the pages do for each view), joins the episode's
channel group (``episodes.live.group_name``) and forwards each ``episode.step`` message to the
browser: the steps another tab or browser took. It only listens: a review's episode is stepped
only through the page's forms, which audit every action (REST, WS and MCP get 409, episodes.steps).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from episodes.live import group_name
from accounts import permissions
from reviews import services
from reviews.audit import RequestMeta
from reviews.models import AuditRecord, ReviewSession

MAX_USER_AGENT = AuditRecord._meta.get_field("user_agent").max_length


def meta_from_scope(scope: Mapping[str, Any]) -> RequestMeta:
    """Who is connecting and from where, as ``RequestMeta.from_request`` reads a request: the
    peer's address from the ASGI scope (what the server saw, never a header the client sets)."""
    client = scope.get("client") or ("", 0)
    try:
        ip = str(ipaddress.ip_address(client[0]))
    except (ValueError, TypeError, IndexError):
        ip = ""
    headers = dict(scope.get("headers") or [])
    agent = headers.get(b"user-agent", b"").decode("latin-1")[:MAX_USER_AGENT]
    return RequestMeta(user=scope.get("user"), ip=ip, user_agent=agent)


@database_sync_to_async
def _watch(meta: RequestMeta, pk: int) -> str | None:
    """The episode to follow, once the watch is recorded; None if the user may not see it."""
    session = ReviewSession.objects.select_related("episode").filter(pk=pk).first()
    if session is None or not permissions.allowed(meta.user, "review.view", owner_id=session.pharmacist_id):
        return None
    # Before accepting: a watch whose record could not be written does not happen.
    services.review_record_view(session, meta=meta, page="watch")
    return session.episode.episode_id


class ReviewWatchConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        episode_id = None
        if user is not None and user.is_authenticated:
            episode_id = await _watch(meta_from_scope(self.scope), int(self.scope["url_route"]["kwargs"]["pk"]))
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

    async def review_changed(self, message: dict[str, Any]) -> None:
        # Signed off, or a step commented: the page fetches its fragments again.
        await self.send(text_data=json.dumps({"type": "review", "status": message["status"]}))
