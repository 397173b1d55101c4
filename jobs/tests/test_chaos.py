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
from testsupport.live_server import LiveServer, LiveWorker, free_port
from polypharmacy_site.testing import requires_postgres

pytestmark = [pytest.mark.live, requires_postgres, pytest.mark.timeout(900),
              pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server (Debian's package)")]

SMALL = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 2048, "hidden": [16], "eval_every": 1,
         "test_episodes": 3}
# 24 updates: long enough to be killed in the middle, after a saved state.
RESUMED = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 24 * 1024, "hidden": [32],
           "eval_every": 0, "test_episodes": 5, "seed": 7, "checkpoint_name": "chaos-resumed"}
LONG = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 5_000_000, "hidden": [32], "eval_every": 0,
        "test_episodes": 0}
CHAOS_S = 45
TERMINAL = ("succeeded", "failed", "cancelled")
ATTEMPT = re.compile(r"\[(\d\d):(\d\d):(\d\d)\] attempt (\d+) of \d+ on \S+:(\d+)")


def mixed_jobs() -> list[tuple[str, dict[str, Any]]]:
    agents = ["heuristic", "random"]
    return ([("train_policy", RESUMED)]
            + [("train_policy", {**SMALL, "seed": s}) for s in range(7)]
            + [("evaluate", {"agent": agents[i % 2], "task_id": ("easy_screening", "budgeted_screening")[i % 2],
                             "catalog": "classic", "episodes": 10, "seed_start": 10000 + i}) for i in range(10)]
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


STOPPED = re.compile(r"the attempt on \S+:(\d+) stopped")


def twice_at_once(log: str, killed: dict[int, float]) -> bool:
    """Does the log show an attempt claimed while the one before it still ran?"""
    current: tuple[int, int] | None = None  # (attempt, pid) running now, as far as the log says
    for line in log.splitlines():
        stopped = STOPPED.search(line)
        if stopped and current and int(stopped.group(1)) == current[1]:
            current = None
            continue
        found = ATTEMPT.search(line)
        if not found:
            continue
        h, m, sec, n, pid = found.groups()
        if current is not None and int(n) > current[0] and int(pid) != current[1]:
            # (A pool process runs one job at a time: the same one claiming again had ended it.)
            at = int(h) * 3600 + int(m) * 60 + int(sec)
            if current[1] not in killed:
                return True
            died = time.gmtime(killed[current[1]])  # the log's stamps are UTC (TIME_ZONE)
            died_s = died.tm_hour * 3600 + died.tm_min * 60 + died.tm_sec
            if died_s > at + 1 and abs(died_s - at) < 12 * 3600:
                return True
        current = (int(n), int(pid))
    return False


def test_the_check_itself_sees_two_attempts_at_once():
    log = ("[10:00:00] attempt 1 of 2 on vm:11\n[10:00:09] worker vm:11 lost (no heartbeat since 10:00:04); "
           "re-queued\n[10:00:10] attempt 2 of 2 on vm:12\n")
    assert twice_at_once(log, {})  # vm:11 lived on
    assert twice_at_once(log, {11: time.mktime((2026, 12, 3, 10, 0, 30, 0, 0, 0)) - time.timezone})
    assert not twice_at_once(log, {11: time.mktime((2026, 12, 3, 10, 0, 5, 0, 0, 0)) - time.timezone})
    stopped = log.replace("[10:00:10] attempt 2", "[10:00:09] the attempt on vm:11 stopped: the job was taken "
                          "from it\n[10:00:10] attempt 2")
    assert not twice_at_once(stopped, {})
    waiting = "[10:00:00] attempt 1 of 2 on vm:11\n[10:00:05] attempt 1 of 2 on vm:12\n"  # a sweep claimed again
    assert not twice_at_once(waiting, {})


def worker_of(site: Site, job: dict[str, Any]) -> LiveWorker | None:
    pid = job["worker"].rpartition(":")[2]
    for worker in site.workers:
        if worker.proc and pid.isdigit() and int(pid) in session_pids(worker.proc.pid):
            return worker
    return None


def test_jobs_survive_killed_workers_killed_connections_and_a_redis_restart(tmp_path):
    port = free_port()
    # Beats every second; lost after 15 s of silence (above twice the pool's 5 s wait plus a
    # beat: a worker whose beats hang on the killed connections stops itself first).
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", **FAST_REAPING, "JOBS_STALE_AFTER_S": "15", "JOBS_RESUME_EVERY_S": "1",
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
                """Faults one after another, 1–4 s apart: connections killed, a worker killed,
                and once, 15 s in, Redis stopped for 6 s."""
                t0, redis_done = time.monotonic(), False
                plan = ["connections", "worker", "connections"]
                k = 0
                # At least CHAOS_S, and at least three connection kills however slow the machine
                # (a loaded one spends longer on each worker's replacement and Redis' restart).
                while not stop.is_set() and (time.monotonic() - t0 < CHAOS_S
                                             or sum("connections" in f for f in site.faults) < 3):
                    time.sleep(rng.uniform(1.0, 4.0))
                    what, k = plan[k % len(plan)], k + 1
                    with site.lock:
                        if not redis_done and time.monotonic() - t0 > 15:
                            site.restart_redis()
                            redis_done = True
                        elif what == "worker":
                            # Not the resumed training's worker: that one is killed once, below,
                            # in its middle (two kills would use up its attempts).
                            spared = worker_of(site, {j["id"]: j for j in site.jobs()}[resumed_id])
                            others = [w for w in site.workers if w is not spared]
                            if others:
                                site.kill_worker(rng.choice(others))
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

            # Never twice at once: a job's next attempt begins only once the one before it has
            # ended: its process killed before, or its stop logged before (the log's order is
            # the order of the writes: a stop line before the next attempt's came first).
            for j in jobs.values():
                assert not twice_at_once(j["log"], site.killed), f"job {j['id']} ran twice at once:\n{j['log']}"

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
            # Every worker's log (the killed ones' too), kept for a failure's reading.
            for log in Path(server.tmp.name).glob("worker-*.log"):
                shutil.copy(log, tmp_path / log.name)
            print(f"worker logs: {tmp_path}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "policy.pt")
        Path(path).write_bytes(data)
        got = load_checkpoint(path)[0].state_dict()
    whole = train(TrainConfig(task_id="easy_screening", catalog="classic", total_steps=24 * 1024, hidden=(32,),
                              eval_every=0, seed=7)).model.state_dict()
    assert got.keys() == whole.keys() and all(torch.equal(got[k], whole[k]) for k in whole)
