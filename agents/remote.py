"""Drive a running PolypharmacyEnv server over the OpenEnv HTTP protocol with a local policy,
logging each episode in the reference inference script's format. Standard library only (urllib),
no Django: it runs wherever the project's ``envcore`` and ``agents`` import.

Per episode: ``POST /reset`` ``{task_id, seed, catalog}``, then ``POST /step``
``{"action": ..., "episode_id": ...}`` until ``done``; every answer is ``{observation, reward,
done}``. The episode is always named, so no cookie is needed and concurrent runs never mix.

The policy reads the public catalog (drug classes, Beers criteria) next to the observation; it is
built locally from the shipped fixtures (``Catalog.load(name)``), so it must match the server's
catalog of that name: it does while the server's database holds the fixtures unedited
(``manage.py load_catalog``). A curator's edit on the server makes the agent reason from stale
drug data — the server still scores its actions against its own catalog.

Output, one line each, exactly as the reference PolypharmacyEnv ``inference.py`` prints it:

    [START] task=<task_id> env=polypharmacy_env model=<label>
    [STEP] step=<n> action=<compact JSON action> reward=<0.00> done=<true|false> error=<msg|null>
    [END] success=<true|false> steps=<n> score=<0.000> rewards=<r1,r2,...>

``reward`` is the wire reward (clamped to [0.001, 0.999]), ``error`` the observation's
``last_action_error`` (whitespace collapsed so a step stays one line), ``score`` the grader score
clamped to [0, 1] and ``success`` is ``score > 0`` once the episode is done (as the reference
decides it). A failure — the server unreachable, an HTTP error, a malformed answer, the policy
raising — ends that episode at once with ``[END] success=false`` and a one-line message on the
error stream, never a traceback; the next episode is still tried.
"""

from __future__ import annotations

import json
import random
import sys
import urllib.error
import urllib.request
from typing import Any, Iterable, Protocol

from agents.policies import Policy
from envcore.catalog import Catalog

BENCHMARK = "polypharmacy_env"
DEFAULT_TIMEOUT_S = 30.0
# A server ends every episode by its step limit; this many extra steps means it does not.
STEP_LIMIT_SLACK = 2


class RemoteError(Exception):
    """The server could not be reached or gave an answer the protocol does not allow."""


# ── the reference's log lines ──────────────────────────────────────────────
def _bool(value: bool) -> str:
    return "true" if value else "false"


def _clamp01(value: float) -> float:
    return max(0.0, min(1.0, float(value)))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_start(task_id: str, model_label: str) -> str:
    """``[START] task=<task> env=polypharmacy_env model=<label>``."""
    return f"[START] task={task_id} env={BENCHMARK} model={model_label}"


def format_step(step: int, action: dict[str, Any], reward: float, done: bool, error: str | None) -> str:
    """``[STEP] step=<n> action=<json> reward=<0.00> done=<bool> error=<msg|null>``."""
    action_str = json.dumps(action, separators=(",", ":"))
    err = _one_line(error) if error else "null"
    return f"[STEP] step={step} action={action_str} reward={float(reward):.2f} done={_bool(done)} error={err}"


def format_end(success: bool, steps: int, score: float, rewards: list[float]) -> str:
    """``[END] success=<bool> steps=<n> score=<0.000> rewards=<r1,r2,...>``."""
    rewards_str = ",".join(f"{float(r):.2f}" for r in rewards)
    return f"[END] success={_bool(success)} steps={steps} score={_clamp01(score):.3f} rewards={rewards_str}"


# ── HTTP ───────────────────────────────────────────────────────────────────
def _error_detail(payload: bytes) -> str:
    """The message of an OpenEnv error body: 422 ``{"detail": [{"loc", "msg"}...]}`` or
    ``{"detail": "..."}``; else the start of the raw body."""
    try:
        body = json.loads(payload)
    except ValueError:
        return _one_line(payload.decode(errors="replace"))[:200] or "(empty body)"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return "; ".join(parts) or str(detail)
    if detail is not None:
        return _one_line(str(detail))
    return _one_line(json.dumps(body))[:200]


def post_json(base_url: str, path: str, body: dict[str, Any], *, token: str | None = None,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """POST ``body`` as JSON and return the OpenEnv answer ``{observation, reward, done}``.

    Raises RemoteError with a one-line message for every failure."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        data = json.dumps(body).encode()
    except (TypeError, ValueError) as exc:  # e.g. an agent's action holding a non-JSON value
        raise RemoteError(f"POST {path}: the request is not JSON: {exc}") from None
    request = urllib.request.Request(base_url.rstrip("/") + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise RemoteError(f"POST {path}: HTTP {exc.code}: {_error_detail(exc.read())}") from None
    except urllib.error.URLError as exc:
        raise RemoteError(f"POST {path}: cannot reach {base_url}: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:  # a timeout or reset after the connection was made
        raise RemoteError(f"POST {path}: {base_url}: {type(exc).__name__}: {exc}") from None
    try:
        answer = json.loads(payload)
    except ValueError:
        raise RemoteError(f"POST {path}: the answer is not JSON: {_one_line(payload.decode(errors='replace'))[:200]}") from None
    if not (isinstance(answer, dict) and isinstance(answer.get("observation"), dict) and isinstance(answer.get("done"), bool)):
        raise RemoteError(f"POST {path}: the answer is not an OpenEnv {{observation, reward, done}} body.")
    return answer


# ── episodes ───────────────────────────────────────────────────────────────
def _number(value: Any, path: str, name: str, kind: type) -> Any:
    """A numeric field of an answer (null counts as 0, as the reference reads it)."""
    if value is None:
        return kind(0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RemoteError(f"POST {path}: {name} is not a number: {value!r}")
    return kind(value)


class TextSink(Protocol):
    """Where log lines go: a text file, ``sys.stdout``, a management command's ``self.stdout``."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


def _write(stream: TextSink, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()  # a parser tailing the log sees every line as it happens


def run_remote_episode(
    url: str,
    policy: Policy,
    *,
    task_id: str,
    catalog: Catalog,
    seed: int,
    model_label: str,
    out: TextSink,
    err: TextSink,
    token: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """One episode on the server; prints its [START], [STEP]s and [END]. Returns
    ``{task_id, seed, episode_id, success, steps, score, rewards, error}`` (``error`` None
    unless the episode was cut short)."""
    rewards: list[float] = []
    steps, score, success = 0, 0.0, False
    episode_id: str | None = None
    error: str | None = None
    _write(out, format_start(task_id, model_label))
    try:
        answer = post_json(url, "/reset", {"task_id": task_id, "seed": seed, "catalog": catalog.name},
                           token=token, timeout_s=timeout_s)
        obs, done = answer["observation"], answer["done"]
        episode_id = obs.get("episode_id")
        if not isinstance(episode_id, str) or not episode_id:
            raise RemoteError("POST /reset: the observation has no episode_id.")
        # Seeded like agents.evaluate.run_episode: the same seed gives the same random agent.
        rng = random.Random(seed)
        limit = _number(obs.get("max_steps"), "/reset", "max_steps", int) + STEP_LIMIT_SLACK
        while not done:
            if steps >= limit:
                raise RemoteError(f"the server did not end episode {episode_id} within {limit} steps.")
            try:
                action = policy(obs, catalog=catalog, rng=rng)
            except Exception as exc:  # the agent's failure ends the episode like the server's
                raise RemoteError(f"the agent failed: {type(exc).__name__}: {exc}") from None
            answer = post_json(url, "/step", {"action": action, "episode_id": episode_id},
                               token=token, timeout_s=timeout_s)
            obs, done = answer["observation"], answer["done"]
            reward = _number(answer.get("reward"), "/step", "reward", float)
            steps += 1
            rewards.append(reward)
            _write(out, format_step(steps, action, reward, done, obs.get("last_action_error")))
        score = _clamp01(_number(obs.get("grader_score"), "/step", "grader_score", float))
        success = score > 0.0
    except RemoteError as exc:
        error = str(exc)
        success = False
        _write(err, f"run_agent: task {task_id} seed {seed}: {error}")
    finally:
        _write(out, format_end(success, steps, score, rewards))
    return {"task_id": task_id, "seed": seed, "episode_id": episode_id, "success": success, "steps": steps,
            "score": score, "rewards": rewards, "error": error}


def run_remote_episodes(
    url: str,
    policy: Policy,
    *,
    task_id: str,
    catalog: Catalog | str,
    seeds: Iterable[int],
    model_label: str,
    out: TextSink | None = None,
    err: TextSink | None = None,
    token: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Run ``policy`` on ``task_id`` for each seed against the server at ``url``.

    ``catalog`` is a Catalog or the name of a shipped one (loaded from the fixtures; it must
    match the server's catalog of that name). Log lines go to ``out`` (default stdout),
    failure messages to ``err`` (default stderr); ``token`` is sent as ``Authorization: Token
    <key>``. Returns one result per episode (see ``run_remote_episode``); a failed episode has
    ``error`` set and the run goes on with the next seed."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    local = catalog if isinstance(catalog, Catalog) else Catalog.load(catalog)
    return [
        run_remote_episode(url, policy, task_id=task_id, catalog=local, seed=seed, model_label=model_label,
                           out=out, err=err, token=token, timeout_s=timeout_s)
        for seed in seeds
    ]
