"""LLM suggestion jobs, against recorded answers from a real local endpoint."""

from __future__ import annotations

import json

import pytest

from agents.tests.test_llm import API_KEY, MODEL, RecordedLLMServer
from jobs import services
from reviews.tests.conftest import SEVERE_PAIR, session  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm(settings):
    with RecordedLLMServer() as server:
        settings.LLM_API_BASE, settings.LLM_API_KEY, settings.LLM_MODEL = server.api_base, API_KEY, MODEL
        settings.LLM_TIMEOUT_S = 3.0
        yield server


def run(kind: str, params: dict, owner):
    job = services.job_create(kind=kind, params=params, owner=owner)
    services.job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_job_asks_the_llm_about_a_stored_episode_its_owner_can_see(llm, session, phil):  # noqa: F811
    job = run("llm_suggest", {"episode_id": session.episode.episode_id}, phil)
    assert job.status == "succeeded", job.error
    assert job.params["catalog"] == "classic"  # the episode's catalog, not the default
    suggestion = job.result["suggestion"]
    assert suggestion["source"] == "llm" and suggestion["model"] == MODEL and suggestion["fallback_reason"] is None
    assert suggestion["action"] == {"action_type": "query_ddi", "drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}
    assert session.episode.episode_id in llm.prompt() and API_KEY not in json.dumps(job.result) + job.log
    assert job.max_attempts == 1  # never retried: a retry would spend the key again


def test_a_job_cannot_read_an_episode_its_owner_cannot_see(llm, session, rex):  # noqa: F811
    job = run("llm_suggest", {"episode_id": session.episode.episode_id}, rex)
    assert job.status == "failed" and "No episode" in job.error and llm.requests == []


def test_an_invalid_answer_or_no_endpoint_falls_back_to_the_rule_based_suggester(llm, classic, rex, settings):
    llm.answer("malformed_json")
    job = run("llm_suggest", {"task_id": "easy_screening", "catalog": "classic", "seed": 3}, rex)
    assert job.status == "succeeded" and job.result["suggestion"]["source"] == "rule-based"
    assert job.result["suggestion"]["fallback_reason"]
    settings.LLM_API_BASE = ""
    before = len(llm.requests)
    job = run("llm_suggest", {"task_id": "easy_screening", "catalog": "classic", "seed": 3}, rex)
    assert job.result["suggestion"]["source"] == "rule-based" and len(llm.requests) == before


def test_the_job_and_the_review_page_read_one_llm_configuration(llm, settings):
    # A trailing "/" on LLM_API_BASE once broke only the job (it built its own config).
    from jobs.context import JobContext
    from jobs.models import Job
    from reviews.services import llm_config

    settings.LLM_API_BASE = llm.api_base + "/"
    job = Job.objects.create(kind="llm_suggest", params={})
    from_job = JobContext(job, worker="pytest").llm_config()
    assert from_job == llm_config() and from_job.api_base == llm.api_base
    settings.LLM_API_BASE = "ftp://somewhere"
    assert JobContext(job, worker="pytest").llm_config() is None and llm_config() is None
