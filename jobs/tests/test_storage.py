"""jobs.storage: checkpoint files in the database, each machine's artefact folder a local copy
(the live test with two web processes and two workers with folders of their own: test_worker.py)."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from jobs import services, storage
from jobs.models import Checkpoint, CheckpointFile
from jobs.selectors import checkpoint_file
from jobs.tests.conftest import TINY_TRAIN

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(classic, rex) -> Checkpoint:
    job = services.job_create(kind="train_policy", params={**TINY_TRAIN, "checkpoint_name": "stored"}, owner=rex)
    assert services.job_execute(job_id=job.pk).status == "succeeded"
    return Checkpoint.objects.get(name="stored")


def test_a_succeeded_jobs_checkpoint_is_in_the_database_with_its_checksum(trained):
    local = Path(settings.JOBS_ARTIFACT_DIR) / trained.path
    stored = CheckpointFile.objects.get(checkpoint=trained)
    assert bytes(stored.content) == local.read_bytes() and stored.size == local.stat().st_size
    assert stored.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()


def test_a_machine_without_the_file_or_with_part_of_it_fetches_it(trained, settings, tmp_path):
    original = (Path(settings.JOBS_ARTIFACT_DIR) / trained.path).read_bytes()
    settings.JOBS_ARTIFACT_DIR = tmp_path / "another-machine"
    path = checkpoint_file(trained)
    assert path.is_relative_to(tmp_path / "another-machine") and path.read_bytes() == original
    path.write_bytes(original[: len(original) // 2])  # a copy cut short (a full disk, a crash)
    assert checkpoint_file(trained).read_bytes() == original
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    # The policy it holds plays (evaluated on this machine).
    job = services.job_create(kind="evaluate", params={"agent": "policy:stored", "episodes": 2}, owner=None)
    assert services.job_execute(job_id=job.pk).status == "succeeded"


def test_a_damaged_stored_file_is_refused_not_loaded(trained, settings, tmp_path):
    CheckpointFile.objects.filter(checkpoint=trained).update(content=b"not the model", size=13)
    settings.JOBS_ARTIFACT_DIR = tmp_path / "elsewhere"
    with pytest.raises(LookupError, match="damaged"):
        checkpoint_file(trained)


def test_a_row_pointing_outside_the_artefact_folder_is_refused(trained):
    trained.path = "../../etc/passwd"
    with pytest.raises(LookupError, match="outside the artefact folder"):
        checkpoint_file(trained)


def test_deleting_a_checkpoint_deletes_its_stored_file(trained):
    trained.delete()
    assert CheckpointFile.objects.count() == 0


def test_the_migration_stores_the_files_already_on_disk_and_skips_the_missing(classic, settings):
    root = Path(settings.JOBS_ARTIFACT_DIR)
    (root / "job-1").mkdir(parents=True)
    (root / "job-1" / "policy.pt").write_bytes(b"old policy")
    here = Checkpoint.objects.create(name="old", kind="policy", path="job-1/policy.pt")
    gone = Checkpoint.objects.create(name="gone", kind="policy", path="job-2/policy.pt")
    outside = Checkpoint.objects.create(name="outside", kind="policy", path="../secret")
    migration = importlib.import_module("jobs.migrations.0002_checkpoint_file")
    migration.store_existing_files(apps, None)
    assert bytes(CheckpointFile.objects.get(checkpoint=here).content) == b"old policy"
    assert not CheckpointFile.objects.filter(checkpoint__in=[gone, outside]).exists()
    assert storage.local_copy(gone) == root.resolve() / "job-2" / "policy.pt"  # read from the folder, as before
