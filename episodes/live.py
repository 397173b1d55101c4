"""Live updates: each step of a live episode is pushed to the episode's channel group, so a
review page or a supervisor's watch page sees it at once, whoever took it (page, REST, WS).

The message is sent after the step's write committed, so a watcher never sees a step that
was not stored.
"""

from __future__ import annotations

import hashlib
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_name(episode_id: str) -> str:
    # Group names are limited to ASCII alphanumerics, hyphens, underscores and periods (< 100
    # chars); client-chosen episode ids may not be, so hash them.
    return "episode." + hashlib.sha256(episode_id.encode("utf-8")).hexdigest()[:32]


def step_message(episode_id: str, index: int, actor_label: str, action: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "episode.step",  # handled by a consumer's episode_step method
        "episode_id": episode_id,
        "index": index,
        "actor": actor_label,
        "action": action,
        "payload": payload,
    }


def publish_step(message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group_name(message["episode_id"]), message)


async def publish_step_async(message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group_name(message["episode_id"]), message)
