"""``ws/reviews/<id>/``: a watcher who may see the session gets every step as it happens,
whoever takes it; anyone else is refused."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User

from episodes import services as episodes
from episodes import steps
from episodes.models import Episode
from reviews.models import ReviewSession
from reviews.routing import websocket_urlpatterns
from reviews.tests.conftest import PATIENT, SEVERE_PAIR

# Transactional: the consumer reads from another thread. No audit records are written here (the
# session is made directly), because SQLite's flush between tests would hit the append-only trigger.
pytestmark = pytest.mark.django_db(transaction=True)


def world():
    from catalog.services import catalog_load

    catalog_load(name="classic")
    roles = {name: Group.objects.get_or_create(name=name)[0] for name in ("pharmacist", "supervisor")}
    phil = User.objects.create_user("phil")
    phil.groups.add(roles["pharmacist"])
    sue = User.objects.create_user("sue")
    sue.groups.add(roles["supervisor"])
    pia = User.objects.create_user("pia")
    pia.groups.add(roles["pharmacist"])
    caller = episodes.Caller.for_user(phil, channel="review")
    started, _ = episodes.episode_reset(caller, patient_id=PATIENT, task_id="easy_screening", catalog="classic", live=True)
    session = ReviewSession.objects.create(
        episode=Episode.objects.get(episode_id=started.row.episode_id), pharmacist=phil, catalog_name="classic",
    )
    return session, phil, sue, pia


def communicator(session, user) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/reviews/{session.pk}/", headers=[(b"origin", b"http://testserver")],
    )
    comm.scope["user"] = user
    return comm


def test_a_supervisor_sees_a_step_taken_by_an_api_client():
    async_to_sync(_a_supervisor_sees_a_step_taken_by_an_api_client)()


async def _a_supervisor_sees_a_step_taken_by_an_api_client():
    session, phil, sue, _pia = await sync_to_async(world)()
    comm = communicator(session, sue)
    connected, _ = await comm.connect()
    assert connected
    api_caller = episodes.Caller.for_user(phil, channel="api")
    await sync_to_async(steps.episode_step)(
        api_caller, action={"action_type": "query_ddi", "drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]},
        episode_id=session.episode.episode_id,
    )
    message = await comm.receive_json_from(timeout=5)
    assert message["type"] == "step" and message["index"] == 1 and message["actor"] == "api:phil"
    assert message["payload"]["observation"]["last_query_result"]["severity"] == "severe"
    await comm.disconnect()


def test_a_colleague_and_an_anonymous_visitor_are_refused():
    async_to_sync(_a_colleague_and_an_anonymous_visitor_are_refused)()


async def _a_colleague_and_an_anonymous_visitor_are_refused():
    from django.contrib.auth.models import AnonymousUser

    session, _phil, _sue, pia = await sync_to_async(world)()
    for user in (pia, AnonymousUser()):
        connected, _ = await communicator(session, user).connect()
        assert not connected


def test_a_page_from_another_site_is_refused():
    async_to_sync(_a_page_from_another_site_is_refused)()


async def _a_page_from_another_site_is_refused():
    session, _phil, sue, _pia = await sync_to_async(world)()
    comm = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/reviews/{session.pk}/", headers=[(b"origin", b"http://evil.example")],
    )
    comm.scope["user"] = sue
    connected, _ = await comm.connect()
    assert not connected
