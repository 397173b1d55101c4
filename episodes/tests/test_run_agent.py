"""``manage.py run_agent``: agents drive a real server (uvicorn, its own database) over the OpenEnv
HTTP protocol and print the reference inference log; failures end an episode with
``[END] success=false``, a message on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from django.core.management import CommandError, call_command

from agents.evaluate import run_episode
from agents.learning.policy import ActorCritic, PolicyConfig, save_checkpoint
from agents.policies import heuristic_policy
from agents.remote import run_remote_episodes
from envcore.env import PolypharmacyEnv
from envcore.gym_env import N_ACTIONS, OBS_SIZE
from episodes.tests.conftest import http_json
from testsupport.live_server import ROOT, LiveServer, free_port

pytestmark = pytest.mark.live

START = re.compile(r"\[START\] task=(?P<task>\S+) env=polypharmacy_env model=(?P<model>\S+)")
STEP = re.compile(
    r"\[STEP\] step=(?P<step>\d+) action=(?P<action>\{.*\}) reward=(?P<reward>-?\d+\.\d{2}) "
    r"done=(?P<done>true|false) error=(?P<error>.+)"
)
END = re.compile(
    r"\[END\] success=(?P<success>true|false) steps=(?P<steps>\d+) score=(?P<score>\d\.\d{3}) "
    r"rewards=(?P<rewards>(?:-?\d+\.\d{2}(?:,-?\d+\.\d{2})*)?)"
)


def run_agent(*args: str) -> tuple[str, str]:
    """call_command("run_agent", ...): (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("run_agent", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def episodes_in_log(text: str) -> list[dict[str, Any]]:
    """Split the log into episodes, asserting every line is in the reference's exact format and
    the lines of each episode agree (step numbers, done only at the end, the rewards list)."""
    lines = text.splitlines()
    episodes: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in lines:
        if (m := START.fullmatch(line)) is not None:
            assert current is None, f"[START] inside an episode: {line}"
            current = {"task": m["task"], "model": m["model"], "steps": []}
        elif (m := STEP.fullmatch(line)) is not None:
            assert current is not None, f"[STEP] outside an episode: {line}"
            current["steps"].append(m.groupdict())
        elif (m := END.fullmatch(line)) is not None:
            assert current is not None, f"[END] outside an episode: {line}"
            steps = current["steps"]
            assert [int(s["step"]) for s in steps] == list(range(1, len(steps) + 1))
            assert int(m["steps"]) == len(steps)
            assert m["rewards"] == ",".join(s["reward"] for s in steps)
            current.update(success=m["success"] == "true", score=float(m["score"]), n_steps=len(steps))
            episodes.append(current)
            current = None
        else:
            raise AssertionError(f"not a reference log line: {line!r}")
    assert current is None, "an episode without [END]"
    return episodes


def assert_completed(episode: dict[str, Any]) -> None:
    """A run to its end: done only on the last step."""
    dones = [s["done"] for s in episode["steps"]]
    assert dones and dones[-1] == "true" and set(dones[:-1]) <= {"false"}


def stored_episodes(server: LiveServer, **where: str) -> int:
    """How many episodes the live server's own database holds (SQLite; PostgreSQL via psycopg)."""
    sql = "SELECT count(*) FROM episodes_episode" + (
        " WHERE " + " AND ".join(f"{column} = {{}}" for column in where) if where else ""
    )
    if server.env["DATABASE_URL"]:
        import psycopg

        with psycopg.connect(server.env["DATABASE_URL"]) as conn:
            return conn.execute(sql.format(*["%s"] * len(where)), tuple(where.values())).fetchone()[0]
    with closing(sqlite3.connect(f"{server.tmp.name}/db.sqlite3")) as conn:
        return conn.execute(sql.format(*["?"] * len(where)), tuple(where.values())).fetchone()[0]


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", ActorCritic(PolicyConfig(OBS_SIZE, N_ACTIONS, (16,))))


def only_summaries(err: str) -> list[str]:
    """The tasks of stderr's summary lines; fails on any other line (an error)."""
    lines = err.splitlines()
    assert all(line.startswith("summary: ") for line in lines), err
    return [line.split()[1] for line in lines]


# ── agents on a live server ──────────────────────────────────────────────────
def test_the_heuristic_runs_two_episodes_and_the_server_stores_them(env_server: LiveServer):
    before = stored_episodes(env_server, task_id="budgeted_screening")
    out, err = run_agent("--agent", "heuristic", "--url", env_server.url, "--catalog", "classic",
                         "--task", "budgeted_screening", "--episodes", "2", "--seed", "3")
    episodes = episodes_in_log(out)
    assert only_summaries(err) == ["budgeted_screening"]
    assert len(episodes) == 2
    for episode in episodes:
        assert episode["task"] == "budgeted_screening" and episode["model"] == "heuristic"
        assert_completed(episode)
    assert stored_episodes(env_server, task_id="budgeted_screening") == before + 2


def test_the_oracle_plays_remotely_and_the_summary_normalises_it_to_one(env_server: LiveServer):
    out, err = run_agent("--agent", "oracle", "--url", env_server.url, "--catalog", "classic",
                         "--task", "easy_screening", "--episodes", "3", "--seed", "10000")
    episodes = episodes_in_log(out)
    assert [e["model"] for e in episodes] == ["oracle:16"] * 3
    for episode in episodes:
        assert_completed(episode)
    mean = sum(e["score"] for e in episodes) / 3
    assert only_summaries(err) == ["easy_screening"]
    said = re.search(r"mean score (\S+) \[\S+, \S+\] \(95 % CI\) over 3 episodes, normalised (\S+) ", err)
    assert said and float(said[1]) == pytest.approx(mean, abs=0.002) and said[2] == "1.000", err
    assert "full-information planner" in err


def test_the_remote_run_scores_exactly_as_the_same_episode_in_process(env_server: LiveServer):
    out = io.StringIO()
    results = run_remote_episodes(env_server.url, heuristic_policy, task_id="easy_screening", catalog="classic",
                                  seeds=[0, 1], model_label="heuristic", out=out, err=io.StringIO())
    for result in results:
        local = run_episode(PolypharmacyEnv("classic"), heuristic_policy, task_id="easy_screening", seed=result["seed"])
        assert result["error"] is None
        assert result["steps"] == local.steps
        assert result["score"] == pytest.approx(local.grader_score)
        status, state = http_json(env_server, "GET", f"/state?episode_id={result['episode_id']}")
        assert status == 200
        assert state["step_count"] == result["steps"] and state["done"] is True
    assert len(episodes_in_log(out.getvalue())) == 2


def test_the_random_agent_runs_two_episodes(env_server: LiveServer):
    before = stored_episodes(env_server, task_id="complex_tradeoff", status="terminated") + stored_episodes(
        env_server, task_id="complex_tradeoff", status="truncated")
    out, _err = run_agent("--agent", "random", "--url", env_server.url, "--task", "complex_tradeoff",
                          "--episodes", "2")
    episodes = episodes_in_log(out)
    assert [e["model"] for e in episodes] == ["random", "random"]
    for episode in episodes:
        assert_completed(episode)
    after = stored_episodes(env_server, task_id="complex_tradeoff", status="terminated") + stored_episodes(
        env_server, task_id="complex_tradeoff", status="truncated")
    assert after == before + 2


def test_a_checkpoint_policy_runs_by_path(env_server: LiveServer, untrained_checkpoint: Path):
    out, err = run_agent("--agent", f"policy:{untrained_checkpoint}", "--url", env_server.url,
                         "--catalog", "classic", "--task", "easy_screening")
    (episode,) = episodes_in_log(out)
    assert only_summaries(err) == ["easy_screening"]
    assert episode["model"] == f"policy:{untrained_checkpoint}"
    assert_completed(episode)


def test_task_all_runs_each_task_in_turn(env_server: LiveServer):
    out, _err = run_agent("--agent", "heuristic", "--url", env_server.url, "--catalog", "classic", "--task", "all")
    assert [e["task"] for e in episodes_in_log(out)] == ["easy_screening", "budgeted_screening", "complex_tradeoff"]


# ── failures ─────────────────────────────────────────────────────────────────
def test_an_unknown_agent_is_a_command_error_listing_the_allowed_forms():
    with pytest.raises(CommandError) as info:
        run_agent("--agent", "greedy")
    message = str(info.value)
    assert message.startswith("--agent:")
    for form in ("random", "heuristic", "llm", "policy:<checkpoint>"):
        assert form in message


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--task", "hard"], "--task"),
        (["--catalog", "other"], "--catalog"),
        (["--episodes", "0"], "--episodes"),
        (["--seed", "-1"], "--seed"),
        (["--url", "127.0.0.1:8000"], "--url"),
    ],
)
def test_a_bad_option_is_a_command_error_naming_it(args: list[str], option: str):
    with pytest.raises(CommandError) as info:
        run_agent("--agent", "heuristic", *args)
    assert str(info.value).startswith(option)


@pytest.mark.django_db
def test_a_checkpoint_neither_on_disk_nor_stored_is_a_command_error():
    # Not a file, so the name goes to the site's checkpoint registry, which has none either.
    with pytest.raises(CommandError) as info:
        run_agent("--agent", "policy:/no/such/checkpoint.pt")
    assert str(info.value).startswith("--agent: No checkpoint file or stored checkpoint '/no/such/checkpoint.pt'")


def test_nothing_listening_ends_each_episode_with_success_false_and_an_error():
    url = f"http://127.0.0.1:{free_port()}"
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="2 of 2 episodes failed"):
        call_command("run_agent", "--agent", "heuristic", "--url", url, "--episodes", "2", stdout=out, stderr=err)
    assert out.getvalue().splitlines() == [
        "[START] task=budgeted_screening env=polypharmacy_env model=heuristic",
        "[END] success=false steps=0 score=0.000 rewards=",
    ] * 2
    messages = err.getvalue().splitlines()
    assert len(messages) == 2 and all("cannot reach" in m and url in m for m in messages)


def test_an_http_error_ends_the_episode_with_the_servers_message(env_server: LiveServer):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 episodes failed"):
        call_command("run_agent", "--agent", "heuristic", "--url", env_server.url, "--token", "not-a-real-key",
                     stdout=out, stderr=err)
    (episode,) = episodes_in_log(out.getvalue())
    assert episode["success"] is False and episode["n_steps"] == 0
    assert "HTTP 401" in err.getvalue() and "Invalid token" in err.getvalue()


def test_manage_py_exits_1_without_a_traceback_when_the_server_is_down():
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "manage.py", "run_agent", "--agent", "random", "--url", url],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "cannot reach" in proc.stderr and "CommandError: 1 of 1 episodes failed" in proc.stderr
    assert proc.stdout.splitlines()[-1] == "[END] success=false steps=0 score=0.000 rewards="


# ── what a misbehaving server gets (a stand-in server on a thread) ──────────
Answer = tuple[int, str, bytes]  # status, content type, body


@pytest.fixture
def fake_server() -> Iterator[Callable[[dict[str, Answer]], str]]:
    """``fake_server({"/reset": answer, "/step": answer})`` → its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(answers: dict[str, Answer]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, kind, body = answers[self.path]
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def reset_answer() -> Answer:
    obs = PolypharmacyEnv("classic").reset(seed=0, task_id="easy_screening", episode_id="fake-episode")
    return 200, "application/json", json.dumps({"observation": obs.to_dict(), "reward": None, "done": False}).encode()


def run_against(url: str, policy: Any = heuristic_policy) -> tuple[dict[str, Any], str, str]:
    out, err = io.StringIO(), io.StringIO()
    (result,) = run_remote_episodes(url, policy, task_id="easy_screening", catalog="classic", seeds=[0],
                                    model_label="heuristic", out=out, err=err)
    (episode,) = episodes_in_log(out.getvalue())
    assert episode["success"] is False and result["success"] is False
    return result, err.getvalue(), out.getvalue()


def test_a_server_error_page_ends_the_episode_with_its_status(fake_server):
    url = fake_server({"/reset": (500, "text/html", b"<h1>Server Error (500)</h1>")})
    result, err, _ = run_against(url)
    assert "POST /reset: HTTP 500: <h1>Server Error (500)</h1>" in err and result["error"] in err


def test_a_refused_step_ends_the_episode_with_the_servers_detail(fake_server):
    detail = {"detail": [{"type": "value_error", "loc": ["body", "action", "action_type"], "msg": "unknown", "input": "x"}]}
    url = fake_server({"/reset": reset_answer(), "/step": (422, "application/json", json.dumps(detail).encode())})
    result, err, _ = run_against(url)
    assert "POST /step: HTTP 422: action.action_type: unknown" in err
    assert result["episode_id"] == "fake-episode" and result["steps"] == 0


def test_a_finished_episode_answer_ends_it_with_the_conflict(fake_server):
    url = fake_server({"/reset": reset_answer(),
                       "/step": (409, "application/json", b'{"detail": "Episode \'fake-episode\' has finished."}')})
    _, err, _ = run_against(url)
    assert "HTTP 409: Episode 'fake-episode' has finished." in err


def test_an_answer_that_is_not_openenv_ends_the_episode(fake_server):
    url = fake_server({"/reset": (200, "application/json", b'{"status": "healthy"}')})
    _, err, _ = run_against(url)
    assert "not an OpenEnv {observation, reward, done} body" in err


def test_an_agent_that_raises_ends_the_episode_without_a_traceback(fake_server):
    def broken(observation: dict[str, Any], **_: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    url = fake_server({"/reset": reset_answer()})
    _, err, out = run_against(url, broken)
    assert err.strip() == "run_agent: task easy_screening seed 0: the agent failed: RuntimeError: boom"
    assert out.splitlines()[-1] == "[END] success=false steps=0 score=0.000 rewards="
