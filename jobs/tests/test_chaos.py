"""Chaos: 30 jobs of every kind while worker processes are SIGKILLed, the database's connections
are killed (claims, heartbeats, result writes, whatever is running at that moment) and Redis is
stopped and restarted once without persistence (its messages gone). Every job must end
(succeeded, failed with a reason, or cancelled); none may run twice at once; and the training
job whose worker was killed mid-way must resume and end with the very parameters of a run that
never stopped.

A real server and real workers on a PostgreSQL database and a redis-server of the test's own,
as test_worker.py runs them."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch

from agents.learning.policy import load_checkpoint
from agents.learning.ppo import TrainConfig, train
from jobs.tests.test_worker import BANDIT_TRAIN, FAST_REAPING, Api, OwnRedis
from polypharmacy_site.live_server import LiveServer, LiveWorker, free_port
from polypharmacy_site.testing import requires_postgres

pytestmark = [pytest.mark.live, requires_postgres, pytest.mark.timeout(900),
              pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server (Debian's package)")]

SMALL = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 4096, "hidden": [32], "eval_every": 2,
         "test_episodes": 5}
# 40 updates: long enough to be killed in the middle, after a saved state.
RESUMED = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 40 * 1024, "hidden": [32],
           "eval_every": 0, "test_episodes": 5, "seed": 7, "checkpoint_name": "chaos-resumed"}
LONG = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 5_000_000, "hidden": [32], "eval_every": 0,
        "test_episodes": 0}
CHAOS_S = 70
TERMINAL = ("succeeded", "failed", "cancelled")
ATTEMPT = re.compile(r"\[(\d\d):(\d\d):(\d\d)\] attempt (\d+) of \d+ on \S+:(\d+)")


def mixed_jobs() -> list[tuple[str, dict[str, Any]]]:
    agents = ["heuristic", "random", "oracle", "heuristic", "random"]
    return ([("train_policy", RESUMED)]
            + [("train_policy", {**SMALL, "seed": s}) for s in range(7)]
            + [("evaluate", {"agent": agents[i % 5], "task_id": ("easy_screening", "budgeted_screening")[i % 2],
                             "catalog": "classic", "episodes": 30, "seed_start": 10000 + i}) for i in range(10)]
            + [("bandit_train", {**BANDIT_TRAIN, "seed": s}) for s in range(4)]
            + [("llm_suggest", {"catalog": "classic", "seed": s}) for s in range(4)]
            + [("sweep", {"train": SMALL, "seeds": [20 + 2 * i, 21 + 2 * i]}) for i in range(2)])


def session_pids(leader: int) -> set[int]:
    """Every process of a worker (its main process leads a session of its own)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[3]) == leader:
                found.add(int(entry.name))
    return found


class Site:
    """The server, its workers and the database, with the faults the test makes."""

    def __init__(self, server: LiveServer, redis: OwnRedis) -> None:
        import psycopg

        self.server, self.redis, self.api = server, redis, Api(server)
        self.admin = psycopg.connect(server.pg_admin_url.rsplit("/", 1)[0] + f"/{server.db_name}", autocommit=True)
        self.workers: list[LiveWorker] = []
        self.killed: dict[int, float] = {}  # pid → when it was killed (wall clock)
        self.faults: list[str] = []
        self.lock = threading.Lock()  # one fault at a time
        self.started = 0

    def start_worker(self) -> None:
        self.started += 1
        self.workers.append(LiveWorker(self.server.env, name=f"w{self.started}").start())

    def kill_worker(self, worker: LiveWorker) -> None:
        assert worker.proc is not None
        pids = session_pids(worker.proc.pid)
        worker.kill()
        now = time.time()
        self.killed.update({pid: now for pid in pids})
        self.workers.remove(worker)
        self.faults.append(f"killed {worker.name}")
        self.start_worker()

    def kill_connections(self) -> None:
        n = self.admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                               "AND pid <> pg_backend_pid()", (self.server.db_name,)).fetchone()[0]
        self.faults.append(f"killed {n} connections")

    def restart_redis(self) -> None:
        self.redis.stop()
        self.faults.append("redis stopped")
        time.sleep(6)
        self.redis.start()
        self.faults.append("redis back")

    def jobs(self) -> list[dict[str, Any]]:
        rows = self.admin.execute("SELECT id, kind, status, error, attempts, log, progress, worker, params "
                                  "FROM jobs_job ORDER BY id").fetchall()
        keys = ("id", "kind", "status", "error", "attempts", "log", "progress", "worker", "params")
        return [dict(zip(keys, row)) for row in rows]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The API, tried again while a killed connection or the restart answers 5xx."""
        for _ in range(40):
            try:
                status, answer = self.api.call(method, path, body)
            except (urllib.error.URLError, OSError, json.JSONDecodeError):
                status, answer = 599, None
            if status < 500:
                return status, answer
            time.sleep(0.5)
        raise AssertionError(f"{method} {path} kept failing: {status} {answer}")


def worker_of(site: Site, job: dict[str, Any]) -> LiveWorker | None:
    pid = job["worker"].rpartition(":")[2]
    for worker in site.workers:
        if worker.proc and pid.isdigit() and int(pid) in session_pids(worker.proc.pid):
            return worker
    return None


def test_jobs_survive_killed_workers_killed_connections_and_a_redis_restart(tmp_path):
    port = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", **FAST_REAPING, "JOBS_RESUME_EVERY_S": "1",
           "JOBS_DEFER_S": "1", "JOBS_RESEND_AFTER_S": "10", "JOBS_QUOTAS": "researcher=100/10"}
    with OwnRedis(port, tmp_path) as redis, LiveServer(extra_env=env) as server:
        site = Site(server, redis)
        try:
            for _ in range(3):
                site.start_worker()
            ids = {site.api.submit(kind, params): kind for kind, params in mixed_jobs()}
            resumed_id = next(i for i, kind in ids.items() if kind == "train_policy")
            cancel_queued = site.api.submit("evaluate", {"catalog": "classic", "episodes": 200})
            cancel_running = site.api.submit("train_policy", LONG)
            assert site.call("POST", f"/api/jobs/{cancel_queued}/cancel")[0] == 200
            assert len(ids) + 2 == 30

            stop = threading.Event()
            rng = random.Random(14)

            def chaos() -> None:
                t0, redis_done = time.monotonic(), False
                while not stop.is_set() and time.monotonic() - t0 < CHAOS_S:
                    time.sleep(rng.uniform(1.0, 4.0))
                    with site.lock:
                        if not redis_done and time.monotonic() - t0 > 25:
                            site.restart_redis()
                            redis_done = True
                        elif rng.random() < 0.35 and site.workers:
                            site.kill_worker(rng.choice(site.workers))
                        else:
                            site.kill_connections()

            chaos_thread = threading.Thread(target=chaos, daemon=True)
            chaos_thread.start()
            resumed_killed = cancelled = False
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline:
                jobs = {j["id"]: j for j in site.jobs()}
                job = jobs[resumed_id]
                if not resumed_killed and job["status"] == "running" and 35 <= job["progress"] <= 70:
                    with site.lock:
                        worker = worker_of(site, {j["id"]: j for j in site.jobs()}[resumed_id])
                        if worker is not None:  # kill the worker of the training in its middle
                            site.kill_worker(worker)
                            resumed_killed = True
                if not cancelled and jobs[cancel_running]["status"] == "running":
                    assert site.call("POST", f"/api/jobs/{cancel_running}/cancel")[0] in (200, 409)
                    cancelled = True
                if (not chaos_thread.is_alive() and resumed_killed and cancelled
                        and all(j["status"] in TERMINAL for j in jobs.values())):
                    break
                time.sleep(0.5)
            stop.set()
            chaos_thread.join(30)
            jobs = {j["id"]: j for j in site.jobs()}
            print(f"faults: {site.faults}")
            print({s: sum(j["status"] == s for j in jobs.values()) for s in ("succeeded", "failed", "cancelled")})

            # Every job ended; a failed one says why.
            stuck = {i: (j["kind"], j["status"]) for i, j in jobs.items() if j["status"] not in TERMINAL}
            assert not stuck, f"{stuck}; faults {site.faults}"
            assert all(j["error"].strip() for j in jobs.values() if j["status"] == "failed")
            assert len(jobs) == 30 + 4  # the two sweeps' runs
            assert "redis stopped" in site.faults and any(f.startswith("killed w") for f in site.faults)
            assert sum(f.startswith("killed ") and "connections" in f for f in site.faults) >= 3
            assert jobs[cancel_queued]["status"] == "cancelled" and jobs[cancel_running]["status"] == "cancelled"

            # Never twice at once: a job's next attempt begins only once the process of the one
            # before it has been killed (a reaped job whose worker lived on would show here).
            for j in jobs.values():
                attempts = [(int(n), int(pid), int(h) * 3600 + int(m) * 60 + int(s))
                            for h, m, s, n, pid in ATTEMPT.findall(j["log"])]
                for (n, pid, _at), (next_n, _next_pid, next_at) in zip(attempts, attempts[1:]):
                    if next_n <= n:
                        continue  # the same attempt claimed again (a sweep waiting, a deferral)
                    assert pid in site.killed, f"job {j['id']}: attempt {next_n} while {pid} lived\n{j['log']}"
                    killed = time.gmtime(site.killed[pid])  # the log's stamps are UTC (TIME_ZONE)
                    killed_s = killed.tm_hour * 3600 + killed.tm_min * 60 + killed.tm_sec
                    assert next_at >= killed_s - 1 or abs(next_at - killed_s) > 12 * 3600, (j["id"], j["log"])

            # The training killed in its middle went on from its saved state, to the same end.
            resumed = jobs[resumed_id]
            assert resumed_killed and resumed["status"] == "succeeded", resumed["error"] + resumed["log"]
            assert "resuming from update" in resumed["log"], resumed["log"]
            req = urllib.request.Request(server.url + "/api/checkpoints/chaos-resumed/file", headers=site.api.headers)
            with urllib.request.urlopen(req, timeout=60) as answer:
                data = answer.read()
        finally:
            site.admin.close()
            for worker in list(site.workers):
                worker.stop()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "policy.pt")
        Path(path).write_bytes(data)
        got = load_checkpoint(path)[0].state_dict()
    whole = train(TrainConfig(task_id="easy_screening", catalog="classic", total_steps=40 * 1024, hidden=(32,),
                              eval_every=0, seed=7)).model.state_dict()
    assert got.keys() == whole.keys() and all(torch.equal(got[k], whole[k]) for k in whole)
