"""``ws/reviews/<id>/``: a watcher who may see the session gets every step as it happens,
whoever takes it; anyone else is refused. A supervisor's watch is audited once per connection;
the session's own pharmacist watching is not."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User

from episodes import services as episodes
from episodes import steps
from episodes.models import Episode
from reviews.audit import audit_verify
from reviews.models import AuditRecord, ReviewSession
from reviews.routing import websocket_urlpatterns
from reviews.tests.conftest import PATIENT, SEVERE_PAIR

# Transactional: the consumer reads from another thread. The watches write audit records, which
# the test runner's flush empties (reviews/management/commands/flush.py).
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


def communicator(session, user, *, client=("127.0.0.1", 50123), agent=b"pytest-ws/1.0") -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns),  # type: ignore[arg-type]  # see reviews/routing.py
        f"/ws/reviews/{session.pk}/",
        headers=[(b"origin", b"http://testserver"), (b"user-agent", agent)],
    )
    comm.scope["user"] = user  # type: ignore[typeddict-unknown-key]  # AuthMiddleware's key, set as it would
    comm.scope["client"] = client  # what the ASGI server puts there: the peer's address
    return comm


def watches(session):
    return list(AuditRecord.objects.filter(session=session, action=AuditRecord.Action.SESSION_VIEWED).order_by("pk"))


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
        URLRouter(websocket_urlpatterns),  # type: ignore[arg-type]  # see reviews/routing.py
        f"/ws/reviews/{session.pk}/", headers=[(b"origin", b"http://evil.example")],
    )
    comm.scope["user"] = sue  # type: ignore[typeddict-unknown-key]  # AuthMiddleware's key, set as it would
    connected, _ = await comm.connect()
    assert not connected


def test_a_supervisors_watch_is_audited_once_per_connection_with_its_address_and_agent():
    async_to_sync(_a_supervisors_watch_is_audited_once_per_connection_with_its_address_and_agent)()


async def _a_supervisors_watch_is_audited_once_per_connection_with_its_address_and_agent():
    session, phil, sue, _pia = await sync_to_async(world)()
    comm = communicator(session, sue, client=("10.1.2.3", 41000), agent=b"Watcher/2.0 (supervisor's browser)")
    assert (await comm.connect())[0]
    # The round trip works as before: a step reaches the watcher.
    await sync_to_async(steps.episode_step)(
        episodes.Caller.for_user(phil, channel="api"), action={"action_type": "finish_review"},
        episode_id=session.episode.episode_id,
    )
    assert (await comm.receive_json_from(timeout=5))["type"] == "step"
    await comm.disconnect()
    (watch,) = await sync_to_async(watches)(session)
    assert (watch.actor_id, watch.ip, watch.user_agent, watch.payload) == (
        sue.pk, "10.1.2.3", "Watcher/2.0 (supervisor's browser)", {"page": "watch"})
    # Watching again is another watch, recorded again; the chain still verifies.
    again = communicator(session, sue)
    assert (await again.connect())[0]
    await again.disconnect()
    assert [w.ip for w in await sync_to_async(watches)(session)] == ["10.1.2.3", "127.0.0.1"]
    assert (await sync_to_async(audit_verify)()).ok


def test_the_pharmacist_watching_their_own_session_and_refused_watchers_are_not_audited():
    async_to_sync(_the_pharmacist_watching_their_own_session_and_refused_watchers_are_not_audited)()


async def _the_pharmacist_watching_their_own_session_and_refused_watchers_are_not_audited():
    session, phil, _sue, pia = await sync_to_async(world)()
    own = communicator(session, phil)
    assert (await own.connect())[0]
    await own.disconnect()
    assert not (await communicator(session, pia).connect())[0]
    assert await sync_to_async(watches)(session) == []


def test_a_sign_off_tells_the_watching_pages_without_a_step():
    async_to_sync(_a_sign_off_tells_the_watching_pages_without_a_step)()


async def _a_sign_off_tells_the_watching_pages_without_a_step():
    from reviews import services
    from reviews.audit import RequestMeta

    session, phil, sue, _pia = await sync_to_async(world)()
    comm = communicator(session, phil)
    assert (await comm.connect())[0]
    await sync_to_async(services.review_finish)(session, meta=RequestMeta(user=phil))
    assert (await comm.receive_json_from(timeout=5))["type"] == "step"
    await sync_to_async(services.review_sign_off)(session, meta=RequestMeta(user=sue), approve=True, comment="")
    assert await comm.receive_json_from(timeout=5) == {"type": "review", "status": "approved"}
    await comm.disconnect()
