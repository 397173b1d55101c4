"""Live pages: besides each step (``episodes.live``), a review's watchers are told when the
review changes without a step (a sign-off, a comment on a step), once the change is committed.
The message carries no content: each page fetches its fragments (``reviews/<id>/live``), which
are rendered for its own viewer and permissions."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from episodes.live import group_name


def review_broadcast(session: Any) -> None:
    """Tell the review's live pages to fetch their fragments again (after the commit)."""
    episode_id, status = session.episode.episode_id, session.status

    def send() -> None:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group_name(episode_id), {
                "type": "review.changed", "episode_id": episode_id, "status": status,
            })

    transaction.on_commit(send)
