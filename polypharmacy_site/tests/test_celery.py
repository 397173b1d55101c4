"""The Celery app reads its settings from Django: JSON only, acks late, training on its own queue."""

from __future__ import annotations

import os

from polypharmacy_site.celery import app


def test_tasks_survive_a_worker_crash() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True


def test_it_speaks_json_only() -> None:
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]


def test_training_jobs_go_to_the_training_queue_and_the_rest_to_the_default_one() -> None:
    from jobs.kinds import KINDS

    assert {name: kind.queue for name, kind in KINDS.items()} == {
        "train_policy": "training", "bandit_train": "training",
        "evaluate": "celery", "llm_suggest": "celery", "bandit_screen": "celery", "sweep": "celery",
    }
    assert app.conf.task_default_queue == "celery"


def test_without_redis_it_needs_no_broker_server() -> None:
    if os.environ.get("REDIS_URL"):
        assert app.conf.broker_url == os.environ["REDIS_URL"]
    else:
        assert app.conf.broker_url.startswith("filesystem://")
        options = app.conf.broker_transport_options
        assert options["data_folder_in"] == options["data_folder_out"]
