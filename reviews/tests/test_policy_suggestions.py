"""Trained policy checkpoints (from training jobs) as suggesters on the review page."""

from __future__ import annotations

import pytest

from agents.learning.ppo import TrainConfig, train
from jobs.models import Checkpoint
from reviews.models import AuditRecord
from reviews.tests.conftest import shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy_checkpoint(settings, tmp_path) -> str:
    settings.JOBS_ARTIFACT_DIR = tmp_path
    result = train(TrainConfig(task_id="easy_screening", catalog="classic", total_steps=1024, hidden=(16,),
                               eval_every=0))
    result.save(str(tmp_path / "tiny.pt"))
    Checkpoint.objects.create(name="tiny-easy", kind="policy", path="tiny.pt", task_id="easy_screening",
                              catalog="classic")
    Checkpoint.objects.create(name="other-catalog", kind="policy", path="tiny.pt", catalog="curated")
    return "tiny-easy"


def test_the_form_offers_the_catalogs_trained_policies(policy_checkpoint, session, phil):
    html = client_for(phil).get(f"/reviews/{session.pk}/").content.decode()
    assert 'value="policy:tiny-easy"' in html and "Trained policy tiny-easy (easy_screening)" in html
    assert "other-catalog" not in html  # trained on another catalog's drugs


def test_a_trained_policy_answers_and_the_audit_says_which(policy_checkpoint, session, phil):
    client = client_for(phil)
    answer = client.post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "policy:tiny-easy"}),
                         HTTP_ACCEPT="application/json").json()
    assert answer["suggester"] == "policy:tiny-easy" and answer["model"] == "tiny-easy"
    record = AuditRecord.objects.get(pk=answer["id"])
    assert record.payload["requested"] == "policy:tiny-easy" and record.payload["action"]["action_type"] in (
        "query_ddi", "propose_intervention", "finish_review")
    page = client.get(f"/reviews/{session.pk}/?suggestion={answer['id']}").content.decode()
    assert "by the trained policy tiny-easy" in page


def test_a_trained_policys_suggestion_shows_its_likeliest_actions_with_probabilities(policy_checkpoint, session, phil):
    answer = client_for(phil).post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "policy:tiny-easy"}),
                                   HTTP_ACCEPT="application/json").json()
    top = answer["top"]
    assert 1 <= len(top) <= 3 and top[0]["text"] == answer["text"]  # greedy: the likeliest is the one suggested
    assert all(0 < t["p"] <= 1 for t in top) and sum(t["p"] for t in top) <= 1.0001
    assert [t["p"] for t in top] == sorted((t["p"] for t in top), reverse=True)
    assert "The policy's likeliest actions here" in answer["html"] and "p = " in answer["html"]
    assert AuditRecord.objects.get(pk=answer["id"]).payload["top"][0]["action"] == answer["action"]


def test_an_unknown_checkpoint_is_refused_at_the_field(policy_checkpoint, session, phil):
    resp = client_for(phil).post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "policy:nope"}))
    assert resp.status_code == 422 and not AuditRecord.objects.filter(action="suggestion.shown").exists()
