"""Review pages under load: 1,000 patients and 10,000 steps in the database, then the time to
render the patient list, the session list and a review page (Django test client, median of N).

    .venv/bin/python bench/review_pages.py [--patients 1000] [--steps 10000] [--repeats 30]

Uses a throwaway database: a fresh SQLite file, or a fresh PostgreSQL database when
DATABASE_URL points at PostgreSQL (created and dropped here). Target (issue 5): < 200 ms a page.
Steps go through the review services (the pages' own path), 10 per session.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway_site import throwaway_site  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    with throwaway_site():
        run(args)


def add_patients(total: int) -> None:
    """Copies of the curated patients (same regimens, new ids) until the catalog has ``total``."""
    from catalog.models import CatalogSource, Patient, PatientMedication
    from catalog.services import catalog_load

    catalog_load(name="curated")
    source = CatalogSource.objects.get(name="curated")
    originals = list(Patient.objects.filter(catalog=source).prefetch_related("regimen"))
    new: list[Patient] = []
    meds: list[PatientMedication] = []
    i = 0
    while len(originals) + len(new) < total:
        base = originals[i % len(originals)]
        new.append(Patient(catalog=source, patient_id=f"BENCH_{i:05d}", position=10_000 + i, task_id=base.task_id,
                           age=base.age, sex=base.sex, conditions=base.conditions, eGFR_category=base.eGFR_category,
                           liver_function_category=base.liver_function_category))
        i += 1
    Patient.objects.bulk_create(new)
    by_id = {p.patient_id: p for p in Patient.objects.filter(catalog=source, patient_id__startswith="BENCH_")}
    for j, p in enumerate(new):
        base = originals[j % len(originals)]
        for med in base.regimen.all():
            meds.append(PatientMedication(patient=by_id[p.patient_id], drug_id=med.drug_id, position=med.position))
    PatientMedication.objects.bulk_create(meds, batch_size=2000)
    CatalogSource.objects.filter(pk=source.pk).update(version=source.version + 1)  # rebuild the cached catalog


def add_steps(total: int):
    import random

    from django.contrib.auth.models import Group, User

    from agents.policies import random_policy
    from catalog.selectors import catalog_get
    from episodes.services import Caller, episode_observation
    from reviews import services
    from reviews.audit import RequestMeta
    from reviews.models import ReviewSession

    phil = User.objects.create_user("phil")
    phil.groups.add(Group.objects.get(name="pharmacist"))
    sue = User.objects.create_user("sue")
    sue.groups.add(Group.objects.get(name="supervisor"))
    meta = RequestMeta(user=phil, ip="127.0.0.1", user_agent="bench")
    catalog = catalog_get("curated")
    pool = [p for p in catalog.patients.values() if p.task_id == "complex_tradeoff"]
    rng = random.Random(0)
    steps = 0
    sessions: list[ReviewSession] = []
    while steps < total:
        patient = pool[len(sessions) % len(pool)]
        session = services.review_start(meta=meta, patient_id=patient.patient_id, task_id="complex_tradeoff", catalog_name="curated")
        sessions.append(session)
        for _ in range(10):
            obs = episode_observation(Caller(user_id=phil.pk), episode_id=session.episode.episode_id).to_dict()
            action = random_policy(obs, catalog=catalog, rng=rng)
            if action["action_type"] == "finish_review":
                action = {"action_type": "query_ddi", "drug_id_1": obs["current_medications"][0]["drug_id"],
                          "drug_id_2": obs["current_medications"][1]["drug_id"]}
            outcome = services.review_step(session, meta=meta, action=action)
            steps += outcome.observation is not None
            session.episode.refresh_from_db()
    return phil, sue, sessions


def timed(client, url: str, repeats: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm the caches a long-running process has
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return statistics.median(times), len(ctx.captured_queries)


def run(args) -> None:
    from django.db import connection
    from django.test import Client

    from catalog.models import Patient
    from episodes.models import Step

    started = time.perf_counter()
    add_patients(args.patients)
    phil, sue, sessions = add_steps(args.steps)
    print(f"setup: {Patient.objects.filter(catalog__name='curated').count()} curated patients, "
          f"{len(sessions)} sessions, {Step.objects.count()} steps on {connection.vendor} "
          f"in {time.perf_counter() - started:.0f} s")
    pharmacist, supervisor = Client(), Client()
    pharmacist.force_login(phil)
    supervisor.force_login(sue)
    review = f"/reviews/{sessions[-1].pk}/"
    for label, client, url in (
        ("patient list", pharmacist, "/patients/"),
        ("patient list, filtered", pharmacist, "/patients/?task=complex_tradeoff&min_drugs=12&min_risk=0.2"),
        ("session list (supervisor)", supervisor, "/reviews/"),
        ("review page (pharmacist)", pharmacist, review),
        ("review page (supervisor, audited view)", supervisor, review),
        ("audit list (supervisor)", supervisor, "/audit/"),
    ):
        ms, queries = timed(client, url, args.repeats)
        print(f"review_pages {label:<40} median {ms:6.1f} ms  {queries} queries")


if __name__ == "__main__":
    main()
