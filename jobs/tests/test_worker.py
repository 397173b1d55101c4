"""Real workers: a real server, a Celery worker process and the REST API, end to end — on the
embedded broker (no server, SQLite or the CI database) and on Redis — and a worker killed mid-job.

Each test runs the site as ``bin/run`` does, in processes of their own (LiveServer, LiveWorker),
on a database of their own; jobs go in over HTTP and come back over HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from typing import Any

import pytest

from testsupport.live_server import LiveServer, LiveWorker, free_port
from polypharmacy_site.testing import requires_postgres, requires_redis

pytestmark = [pytest.mark.live, pytest.mark.timeout(420)]

FAST_REAPING = {"JOBS_HEARTBEAT_S": "1", "JOBS_STALE_AFTER_S": "4", "JOBS_REAP_EVERY_S": "1"}
BANDIT_TRAIN = {"dataset": "catalog", "catalog": "classic", "n_combinations": 1000, "mean_size": 4, "warmup": 150,
                "total_steps": 250, "warmup_epochs": 10, "bandit_epochs": 2, "flag_every": 50, "hidden": 16}
SMALL_TRAIN = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 4096, "hidden": [32],
               "eval_every": 2, "test_episodes": 5, "checkpoint_name": "worker-tiny"}


class Api:
    def __init__(self, server: LiveServer) -> None:
        self.url = server.url
        server.manage("create_user", "rex", "--role", "researcher", "--password", "worker-test-1")
        token = server.manage("create_api_token", "rex").strip().split()[-1]
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def submit(self, kind: str, params: dict[str, Any]) -> int:
        status, body = self.call("POST", "/api/jobs", {"kind": kind, "params": params})
        assert status == 201, body
        return body["id"]

    def wait(self, job_id: int, until, timeout: float = 240.0, what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.call("GET", f"/api/jobs/{job_id}")[1]
            if until(job):
                return job
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} never became {what}: {json.dumps(job)[:3000]}")


def _finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def _train_then_evaluate(api: Api) -> None:
    train = api.submit("train_policy", SMALL_TRAIN)
    seen_progress: set[float] = set()

    def done(job: dict[str, Any]) -> bool:
        seen_progress.add(job["progress"])
        return _finished(job)

    job = api.wait(train, done, what="finished")
    assert job["status"] == "succeeded", job["error"] + job["log"]
    assert job["result"]["checkpoint"] == "worker-tiny" and job["series"] and job["progress"] == 100
    assert any(0 < p < 100 for p in seen_progress), seen_progress  # progress was visible while it ran
    evaluation = api.submit("evaluate", {"agent": "policy:worker-tiny", "task_id": "easy_screening",
                                         "catalog": "classic", "episodes": 6})
    job = api.wait(evaluation, _finished, what="finished")
    assert job["status"] == "succeeded", job["error"] + job["log"]
    assert job["result"]["summary"]["episodes"] == 6 and len(job["result"]["per_episode"]) == 6


def test_a_worker_on_the_embedded_broker_trains_and_evaluates():
    with LiveServer(extra_env={"REDIS_URL": ""}) as server:
        api = Api(server)
        with LiveWorker(server.env):
            _train_then_evaluate(api)


@requires_redis
def test_a_worker_on_redis_trains_and_evaluates():
    import os

    redis_url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/3"  # a database of its own
    with LiveServer(extra_env={"REDIS_URL": redis_url}) as server:
        api = Api(server)
        with LiveWorker(server.env):
            _train_then_evaluate(api)


@pytest.mark.parametrize("broker", ["embedded", pytest.param("redis", marks=requires_redis)])
def test_a_job_whose_worker_is_killed_is_retried_by_another_worker_not_left_running(broker):
    import os

    redis_url = os.environ.get("REDIS_URL", "").rsplit("/", 1)[0] + "/4" if broker == "redis" else ""
    with LiveServer(extra_env={"REDIS_URL": redis_url, **FAST_REAPING, "JOBS_RESUME_EVERY_S": "1"}) as server:
        api = Api(server)
        long_job = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 5_000_000, "hidden": [32],
                    "eval_every": 0, "test_episodes": 0}
        first = LiveWorker(server.env, name="first").start()
        try:
            job_id = api.submit("train_policy", long_job)
            job = api.wait(job_id, lambda j: j["status"] == "running" and j["progress"] > 0, what="running")
            assert job["attempts"] == 1
            time.sleep(3)  # past JOBS_RESUME_EVERY_S: the learner's state is saved between two updates
        finally:
            first.kill()  # mid-job, no clean shutdown
        # Nobody holds it now; the job must not stay "running": a new worker's reaper notices the
        # silent heartbeat, re-queues the job and runs it again.
        with LiveWorker(server.env, name="second"):
            job = api.wait(job_id, lambda j: j["attempts"] == 2 and j["status"] == "running", what="retried")
            assert "lost" in job["log"] and "re-queued" in job["log"]
            # It goes on from the state the killed worker saved, not from step 0.
            job = api.wait(job_id, lambda j: "resuming from update" in j["log"], what="resumed", timeout=60)
            assert "saved by" in job["log"]
            status, body = api.call("POST", f"/api/jobs/{job_id}/cancel")
            assert status == 200
            job = api.wait(job_id, _finished, what="cancelled")
            assert job["status"] == "cancelled"


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server (Debian's redis-server package)")
def test_with_redis_stopped_a_job_is_refused_503_with_no_row_and_runs_once_redis_is_back(tmp_path):
    # A redis-server of the test's own, so that stopping it stops nothing else.
    port = free_port()
    redis = OwnRedis(port, tmp_path)
    with redis, LiveServer(extra_env={"REDIS_URL": f"redis://127.0.0.1:{port}/0"}) as server:
        api = Api(server)
        redis.stop()

        started = time.monotonic()
        status, body = api.call("POST", "/api/jobs", {"kind": "evaluate", "params": {"catalog": "classic", "episodes": 2}})

        assert status == 503 and "nothing was queued" in body["detail"], body
        assert time.monotonic() - started < 10
        assert server.manage("shell", "-v", "0", "-c", "from jobs.models import Job; print(Job.objects.count())").strip() == "0"

        redis.start()
        job_id = api.submit("evaluate", {"catalog": "classic", "episodes": 2})
        with LiveWorker(server.env):
            job = api.wait(job_id, _finished, what="finished")
        assert job["status"] == "succeeded", job["error"] + job["log"]


class OwnRedis:
    def __init__(self, port: int, folder) -> None:
        self.port, self.folder = port, folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "OwnRedis":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@requires_postgres
def test_a_job_whose_claim_meets_a_database_that_refuses_connections_runs_once_it_is_back():
    import psycopg

    with LiveServer(extra_env={"REDIS_URL": ""}) as server:
        api = Api(server)
        job_id = api.submit("evaluate", {"catalog": "classic", "episodes": 2})  # no worker yet: it waits
        with psycopg.connect(server.pg_admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{server.db_name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          (server.db_name,))
            worker = LiveWorker(server.env).start()
            try:
                deadline = time.monotonic() + 60
                while "its message is sent again" not in worker.log() and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert "its message is sent again" in worker.log(), worker.log()[-3000:]
                admin.execute(f'ALTER DATABASE "{server.db_name}" ALLOW_CONNECTIONS true')
                job = api.wait(job_id, _finished, timeout=60, what="finished")
            finally:
                admin.execute(f'ALTER DATABASE "{server.db_name}" ALLOW_CONNECTIONS true')
                worker.stop()
        assert job["status"] == "succeeded" and job["attempts"] == 1, job["error"] + job["log"]


def test_a_job_past_the_memory_ceiling_fails_saying_so_and_the_worker_goes_on():
    """A pool process runs its job under JOBS_MEMORY_LIMIT_MB (jobs.limits): the largest bandit
    dataset (about 2 GB to build) fails with a message naming the limit, and the same worker
    then runs the next job."""
    with LiveServer(extra_env={"REDIS_URL": "", "JOBS_MEMORY_LIMIT_MB": "1200"}) as server:
        api = Api(server)
        with LiveWorker(server.env):
            big = api.submit("bandit_train", {"dataset": "neutral", "n_combinations": 200_000, "n_drugs": 2_000,
                                              "n_patterns": 100, "mean_size": 20.0, "warmup": 100, "total_steps": 200})
            job = api.wait(big, _finished, what="finished")
            assert job["status"] == "failed" and "JOBS_MEMORY_LIMIT_MB" in job["error"], job["error"] + job["log"]
            assert "1,200 MB" in job["error"]
            small = api.submit("evaluate", {"agent": "heuristic", "task_id": "easy_screening", "catalog": "classic",
                                            "episodes": 3})
            job = api.wait(small, _finished, what="finished")
            assert job["status"] == "succeeded", job["error"] + job["log"]


def test_a_job_over_its_owners_running_quota_waits_for_a_place_on_a_free_worker():
    """Two workers, a quota of one running job: the second job stays queued ("waiting") while the
    first runs, although a worker is free, and runs once the first is cancelled."""
    with LiveServer(extra_env={"REDIS_URL": "", "JOBS_QUOTAS": "researcher=5/1", "JOBS_DEFER_S": "1"}) as server:
        api = Api(server)
        with LiveWorker(server.env, name="w1", queues="training"), LiveWorker(server.env, name="w2", queues="celery"):
            long_job = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 5_000_000, "hidden": [32],
                        "eval_every": 0, "test_episodes": 0}
            first = api.submit("train_policy", long_job)
            api.wait(first, lambda j: j["status"] == "running", what="running")
            second = api.submit("evaluate", {"agent": "heuristic", "task_id": "easy_screening", "catalog": "classic",
                                             "episodes": 3})
            job = api.wait(second, lambda j: j["stage"].startswith("waiting"), what="waiting", timeout=60)
            assert job["status"] == "queued" and "1 jobs running" in job["stage"], job
            time.sleep(3)  # deferred again and again, never run while the first one runs
            assert api.call("GET", f"/api/jobs/{second}")[1]["status"] == "queued"
            assert api.call("POST", f"/api/jobs/{first}/cancel")[0] == 200
            job = api.wait(second, _finished, what="finished", timeout=120)
            assert job["status"] == "succeeded", job["error"] + job["log"]
            assert api.call("GET", f"/api/jobs/{first}")[1]["status"] == "cancelled"


def test_machines_with_their_own_artifact_folders_serve_each_others_models(tmp_path):
    """Two web processes and workers, each with an artefact folder of its own (standing in for
    machines that share only the database and the broker): a bandit model trained on one worker
    is screened by another and served by both web processes; so is the model the second trained."""
    folders = {name: str(tmp_path / name) for name in ("web1", "web2", "w1", "w2")}
    body = {"combination": ["DRUG_AMIODARONE", "DRUG_AMITRIPTYLINE"]}
    with LiveServer(extra_env={"REDIS_URL": "", "JOBS_ARTIFACT_DIR": folders["web1"]}) as server:
        api = Api(server)
        second_web = server.sibling(JOBS_ARTIFACT_DIR=folders["web2"])
        second_web.start()
        try:
            with LiveWorker({**server.env, "JOBS_ARTIFACT_DIR": folders["w1"]}, name="w1", queues="training"):
                first = api.submit("bandit_train", {**BANDIT_TRAIN, "checkpoint_name": "on-w1"})
                job = api.wait(first, _finished, what="finished")
                assert job["status"] == "succeeded", job["error"] + job["log"]
            with LiveWorker({**server.env, "JOBS_ARTIFACT_DIR": folders["w2"]}, name="w2", queues="celery,training"):
                screen = api.submit("bandit_screen", {"checkpoint": "on-w1", "combinations": "all"})
                job = api.wait(screen, _finished, what="finished")
                assert job["status"] == "succeeded", job["error"] + job["log"]
                second = api.submit("bandit_train", {**BANDIT_TRAIN, "checkpoint_name": "on-w2", "seed": 1})
                job = api.wait(second, _finished, what="finished")
                assert job["status"] == "succeeded", job["error"] + job["log"]
            for web in (server, second_web):
                for model in ("on-w1", "on-w2"):
                    req = urllib.request.Request(web.url + "/bandit/predict", method="POST", headers=api.headers,
                                                 data=json.dumps({**body, "model": model}).encode())
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        answer = json.loads(resp.read())
                    assert resp.status == 200 and answer["model"]["name"] == model, answer
            # Each machine holds a copy only of what it made or was asked for.
            assert (tmp_path / "w1" / f"job-{first}" / "bandit.pt").is_file()
            assert not (tmp_path / "w1" / f"job-{second}").exists()
            assert (tmp_path / "web2" / f"job-{first}" / "bandit.pt").is_file()
        finally:
            second_web.close()


def test_a_sweep_of_three_seeds_runs_on_two_workers_at_once_and_gives_mean_and_std():
    # The sweep waits for its runs by deferring itself (a Celery retry with a countdown). Once,
    # on a loaded machine with the embedded broker, that message was not seen again after its
    # fourth attempt; the reaper's resend of a queued job's message is what recovers such a loss,
    # so it runs here every second and resends after 20 s (in production: 30 s and 600 s).
    with LiveServer(extra_env={"REDIS_URL": "", "JOBS_DEFER_S": "1", "JOBS_REAP_EVERY_S": "1",
                               "JOBS_RESEND_AFTER_S": "20"}) as server:
        api = Api(server)
        with LiveWorker(server.env, name="w1", queues="training"), \
                LiveWorker(server.env, name="w2", queues="celery,training"):
            train = {k: v for k, v in SMALL_TRAIN.items() if k != "checkpoint_name"}
            sweep = api.submit("sweep", {"train": train, "seeds": [0, 1, 2]})
            job = api.wait(sweep, _finished, what="finished", timeout=300)
            assert job["status"] == "succeeded", job["error"] + job["log"]
            (point,) = job["result"]["points"]
            summary = point["tasks"]["easy_screening"]["score"]
            assert summary["n"] == 3 and summary["mean"] is not None and summary["std"] is not None
            runs = [api.call("GET", f"/api/jobs/{r['job']}")[1] for r in point["runs"]]
            assert [r["params"]["seed"] for r in runs] == [0, 1, 2] and {r["status"] for r in runs} == {"succeeded"}
            tables = api.call("GET", f"/api/jobs/{sweep}/tables")[1]
            assert "summary-easy_screening" in json.dumps(tables)
            # Two workers took the runs, two of them at the same time.
            workers = {r["log"].split(" on ", 1)[1].split()[0] for r in runs}
            assert len(workers) == 2, workers
            spans = sorted((r["started_at"], r["finished_at"]) for r in runs)
            assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans
