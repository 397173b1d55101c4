"""Drive a running PolypharmacyEnv server with the real OpenEnv client library.

Run INSIDE a client virtualenv (bin/openenv-clients makes them); it imports only the OpenEnv
library and the standard library, never the project:

    .venv-openenv-0.10.0/bin/python clients/openenv_episode.py --url http://127.0.0.1:8000 --mode async

Checks, with ``GenericEnvClient`` used asynchronously (``--mode async``) or through ``.sync()``
(``--mode sync``):
  * episodes: a full episode on every task (reset with task_id and seed, queries on drugs of the
    regimen, an intervention, finish_review): ``done`` and a grader_score in [0.001, 0.999] at
    the end, ``state()`` agrees, the same seed gives the same patient;
  * errors: malformed actions and bad resets raise the library's
    ``RuntimeError("Server error: ... (code: CODE)")`` and the same session goes on stepping; a
    step before any reset is an error; a well-formed action the environment refuses (a drug not
    in the regimen) is a normal step with ``last_action_error`` and reward 0.001;
  * wire: the HTTP ``/reset`` and ``/step`` bodies validate against the library's own
    ``ResetResponse`` / ``StepResponse`` models (exactly observation, reward, done).

Prints a JSON summary on stdout; exits 1 when any check failed (the failures are listed first).
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import re
import sys
import traceback
import urllib.error
import urllib.request
from importlib import metadata
from typing import Any, Callable

from openenv.core import GenericEnvClient

TASKS = ("easy_screening", "budgeted_screening", "complex_tradeoff")
SCORE_MIN, SCORE_MAX = 0.001, 0.999
INVALID_REWARD = 0.001
CODE_RE = re.compile(r"\(code: ([A-Z_]+)\)\s*$")
MESSAGE_TIMEOUT_S = 20.0


class Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.observed: dict[str, Any] = {}

    def check(self, name: str, ok: bool, detail: Any = None) -> bool:
        entry: dict[str, Any] = {"check": name, "ok": bool(ok)}
        if detail is not None and not ok:
            entry["detail"] = detail
        self.checks.append(entry)
        return bool(ok)

    def crashed(self, section: str, exc: BaseException) -> None:
        first_line = (str(exc).splitlines() or [""])[0][:200]
        self.check(f"{section}: stopped by an unexpected {type(exc).__name__}: {first_line}", False,
                   "".join(traceback.format_exception(exc)).strip())

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["ok"]]


# ── one client session, the same calls whether async or sync ──────────────────────────────────
class Session:
    """A GenericEnvClient session. In async mode every call is made and awaited inside a running
    event loop (the script's own, kept for the session's life); in sync mode it goes through the
    library's ``.sync()`` wrapper."""

    def __init__(self, url: str, mode: str) -> None:
        self.mode = mode
        client = GenericEnvClient(base_url=url, message_timeout_s=MESSAGE_TIMEOUT_S)
        if mode == "sync":
            self.client = client.sync()
            self.client.__enter__()
        else:
            self.loop = asyncio.new_event_loop()
            self.client = client
            try:
                self._await(lambda: self.client.__aenter__())
            except BaseException:
                self.loop.close()
                raise

    def _await(self, make: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return await make()  # the call itself happens inside the running loop

        return self.loop.run_until_complete(call())

    def reset(self, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return self.client.reset(**kwargs)
        return self._await(lambda: self.client.reset(**kwargs))

    def step(self, action: dict[str, Any]) -> Any:
        if self.mode == "sync":
            return self.client.step(action)
        return self._await(lambda: self.client.step(action))

    def state(self) -> Any:
        if self.mode == "sync":
            return self.client.state()
        return self._await(lambda: self.client.state())

    def close(self) -> None:
        try:
            if self.mode == "sync":
                self.client.__exit__(None, None, None)
            else:
                self._await(lambda: self.client.__aexit__(None, None, None))
                self.loop.close()
        except Exception:  # closing is best effort; the checks are already recorded
            pass

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def server_error_code(call: Callable[[], Any]) -> tuple[str | None, str]:
    """(code, message) of the server error frame the call raised; (None, what happened) if none."""
    try:
        result = call()
    except RuntimeError as exc:
        match = CODE_RE.search(str(exc))
        return (match.group(1) if match else "NO_CODE_IN_MESSAGE"), str(exc)
    except Exception as exc:
        return None, f"raised {type(exc).__name__}, not RuntimeError: {exc}"
    return None, f"no error raised; returned {describe(result)}"


def describe(result: Any) -> Any:
    obs = getattr(result, "observation", None)
    if isinstance(obs, dict):
        keep = ("episode_id", "task_id", "step_index", "last_action_error", "grader_score")
        return {"observation": {k: obs.get(k) for k in keep}, "reward": result.reward, "done": result.done}
    return repr(result)[:300]


def in_score_range(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and SCORE_MIN <= value <= SCORE_MAX


def regimen(obs: dict[str, Any]) -> list[str]:
    return [m["drug_id"] for m in obs.get("current_medications") or []]


# ── (a) full episodes ─────────────────────────────────────────────────────────────────────────
def run_episode(report: Report, url: str, mode: str, task_id: str, seed: int, seen_drugs: set[str]) -> None:
    name = f"episode {task_id} seed {seed}"
    with Session(url, mode) as env:
        r = env.reset(task_id=task_id, seed=seed)
        obs = r.observation
        drugs = regimen(obs)
        seen_drugs.update(drugs)
        report.check(f"{name}: reset returns an open episode of the task",
                     isinstance(obs, dict) and obs.get("task_id") == task_id and r.done is False
                     and obs.get("grader_score") is None and len(drugs) >= 2 and obs.get("step_index") == 0,
                     describe(r))
        episode_id = obs.get("episode_id")
        steps = 0
        queries = min(3, int(obs.get("remaining_query_budget") or 0))
        pairs = [(drugs[i], drugs[j]) for i in range(len(drugs)) for j in range(i + 1, len(drugs))][:queries]
        for d1, d2 in pairs:
            r = env.step({"action_type": "query_ddi", "drug_id_1": d1, "drug_id_2": d2})
            steps += 1
            o = r.observation
            report.check(f"{name}: query_ddi {d1}+{d2} is a normal step",
                         r.done is False and not o.get("last_action_error") and in_score_range(r.reward)
                         and o.get("step_index") == steps and len(o.get("interaction_queries") or []) == steps
                         and o.get("episode_id") == episode_id,
                         describe(r))
        r = env.step({"action_type": "propose_intervention", "target_drug_id": drugs[0],
                      "intervention_type": "add_monitoring", "rationale": "client library check"})
        steps += 1
        o = r.observation
        report.check(f"{name}: propose_intervention is a normal step",
                     r.done is False and not o.get("last_action_error") and in_score_range(r.reward)
                     and len(o.get("interventions") or []) == 1 and o.get("step_index") == steps,
                     describe(r))
        r = env.step({"action_type": "finish_review"})
        steps += 1
        o = r.observation
        report.check(f"{name}: finish_review ends the episode with a grader_score in [0.001, 0.999]",
                     r.done is True and in_score_range(o.get("grader_score")) and in_score_range(r.reward),
                     describe(r))
        report.check(f"{name}: the final reward is the grader score",
                     isinstance(o.get("grader_score"), (int, float)) and isinstance(r.reward, (int, float))
                     and abs(r.reward - o["grader_score"]) < 1e-9, describe(r))
        report.observed.setdefault("grader_scores", {})[f"{task_id}/{seed}"] = o.get("grader_score")
        s = env.state()
        report.check(f"{name}: state() names the episode and counts its steps",
                     isinstance(s, dict) and s.get("episode_id") == episode_id and s.get("step_count") == steps,
                     s)
        # A step on a finished episode is an error frame, and the session goes on.
        code, message = server_error_code(lambda: env.step({"action_type": "finish_review"}))
        report.observed.setdefault("step_after_done_codes", set()).add(code)
        report.check(f"{name}: a step after done is an error frame", code is not None, message)
        r = env.reset(task_id=task_id, seed=seed)
        report.check(f"{name}: the same seed gives the same patient, in a new episode",
                     r.observation.get("patient_id") == obs.get("patient_id")
                     and r.observation.get("episode_id") != episode_id and r.done is False,
                     {"first": obs.get("patient_id"), "again": describe(r)})


# ── (b) errors, on one session that must survive them ─────────────────────────────────────────
def run_errors(report: Report, url: str, mode: str, seen_drugs: set[str]) -> None:
    codes: dict[str, Any] = {}
    report.observed["error_codes"] = codes
    # A fresh session: state is empty, a step before any reset is an error, then reset works.
    with Session(url, mode) as env:
        s = env.state()
        report.check("fresh session: state() is {episode_id: null, step_count: 0}",
                     s == {"episode_id": None, "step_count": 0}, s)
        code, message = server_error_code(lambda: env.step({"action_type": "finish_review"}))
        codes["step_before_reset"] = code
        report.check("fresh session: a step before reset is an error frame with code SESSION_ERROR",
                     code == "SESSION_ERROR", message)
        r = env.reset(task_id="easy_screening", seed=3)
        report.check("fresh session: reset works after that error", r.done is False and bool(regimen(r.observation)),
                     describe(r))

    with Session(url, mode) as env:
        r = env.reset(task_id="easy_screening", seed=1)
        obs = r.observation
        drugs = regimen(obs)
        episode_id = obs.get("episode_id")
        budget = obs.get("remaining_query_budget")
        malformed: dict[str, dict[str, Any]] = {
            "unknown_action_type": {"action_type": "no_such_action"},
            "missing_field": {"action_type": "query_ddi", "drug_id_1": drugs[0]},
            "unknown_field": {"action_type": "finish_review", "bogus": 1},
            "wrong_type": {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": 7},
            "bad_intervention_type": {"action_type": "propose_intervention", "target_drug_id": drugs[0],
                                      "intervention_type": "amputate"},
            "no_action_type": {"drug_id_1": drugs[0]},
        }
        for label, action in malformed.items():
            code, message = server_error_code(lambda: env.step(action))
            codes[label] = code
            report.check(f"errors: a malformed action ({label}) raises RuntimeError with code VALIDATION_ERROR",
                         code == "VALIDATION_ERROR", message)
        code, message = server_error_code(lambda: env.reset(task_id="no_such_task"))
        codes["reset_unknown_task"] = code
        report.check("errors: reset with an unknown task_id raises VALIDATION_ERROR", code == "VALIDATION_ERROR",
                     message)
        code, message = server_error_code(lambda: env.reset(seed=-1))
        codes["reset_negative_seed"] = code
        report.check("errors: reset with seed -1 raises VALIDATION_ERROR", code == "VALIDATION_ERROR", message)
        code, message = server_error_code(lambda: env.reset(task_id="easy_screening", bogus_option=1))
        codes["reset_unknown_field"] = code
        report.check("errors: reset with an unknown field raises VALIDATION_ERROR", code == "VALIDATION_ERROR",
                     message)

        s = env.state()
        report.check("errors: the session keeps its episode through the errors (state unchanged)",
                     isinstance(s, dict) and s.get("episode_id") == episode_id and s.get("step_count") == 0, s)
        r = env.step({"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[1]})
        o = r.observation
        report.check("errors: the same session then steps normally (malformed actions cost no step)",
                     r.done is False and not o.get("last_action_error") and o.get("episode_id") == episode_id
                     and o.get("step_index") == 1 and o.get("remaining_query_budget") == budget - 1,
                     describe(r))

        # A well-formed action the environment refuses is a normal step, not an error frame.
        outside = sorted(seen_drugs - set(drugs))
        if not report.check("errors: a drug outside this regimen is known from the other episodes", bool(outside)):
            return
        r = env.step({"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": outside[0]})
        o = r.observation
        report.observed["refused_action_error"] = o.get("last_action_error")
        report.check("refused action: a query on a drug outside the regimen is a normal step with "
                     "last_action_error and reward 0.001",
                     r.done is False and bool(o.get("last_action_error")) and r.reward == INVALID_REWARD
                     and o.get("step_index") == 2 and o.get("remaining_query_budget") == budget - 1,
                     describe(r))
        r = env.step({"action_type": "propose_intervention", "target_drug_id": outside[0],
                      "intervention_type": "stop"})
        o = r.observation
        report.check("refused action: an intervention on a drug outside the regimen is a normal step with "
                     "last_action_error and reward 0.001",
                     r.done is False and bool(o.get("last_action_error")) and r.reward == INVALID_REWARD
                     and o.get("step_index") == 3 and not o.get("interventions"),
                     describe(r))
        r = env.step({"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[-1]})
        report.check("refused action: the next valid step clears last_action_error",
                     not r.observation.get("last_action_error") and r.observation.get("step_index") == 4,
                     describe(r))
        r = env.step({"action_type": "finish_review"})
        report.check("errors: the episode still finishes with a grader_score",
                     r.done is True and in_score_range(r.observation.get("grader_score")), describe(r))


# ── (c) the HTTP bodies against the library's own wire models ─────────────────────────────────
def run_wire_models(report: Report, url: str) -> None:
    from openenv.core.env_server.types import ResetResponse, State, StepResponse

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with opener.open(req, timeout=MESSAGE_TIMEOUT_S) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def validates(model: Any, body: Any) -> tuple[bool, str]:
        try:
            model.model_validate(body)
        except Exception as exc:
            return False, str(exc)
        return True, ""

    status, body = call("POST", "/reset", {"task_id": "budgeted_screening", "seed": 5})
    ok, why = validates(ResetResponse, body)
    report.check("http: POST /reset is 200 and validates as the library's ResetResponse",
                 status == 200 and ok, {"status": status, "error": why})
    report.check("http: the reset body has exactly observation, reward, done",
                 isinstance(body, dict) and set(body) == {"observation", "reward", "done"},
                 sorted(body) if isinstance(body, dict) else body)
    drugs = regimen(body["observation"]) if isinstance(body, dict) else []
    status, body = call("POST", "/step", {"action": {"action_type": "query_ddi", "drug_id_1": drugs[0],
                                                     "drug_id_2": drugs[1]}})
    ok, why = validates(StepResponse, body)
    report.check("http: POST /step is 200 and validates as the library's StepResponse",
                 status == 200 and ok, {"status": status, "error": why, "body": body if status != 200 else None})
    report.check("http: the step body has exactly observation, reward, done",
                 isinstance(body, dict) and set(body) == {"observation", "reward", "done"},
                 sorted(body) if isinstance(body, dict) else body)
    status, body = call("POST", "/step", {"action": {"action_type": "finish_review"}})
    ok, why = validates(StepResponse, body)
    report.check("http: the final step validates as StepResponse and is done with a grader_score",
                 status == 200 and ok and body.get("done") is True
                 and in_score_range(body["observation"].get("grader_score")), {"status": status, "error": why})
    status, body = call("GET", "/state")
    ok, why = validates(State, body)
    report.check("http: GET /state validates as the library's State", status == 200 and ok,
                 {"status": status, "error": why, "body": body})
    status, body = call("POST", "/step", {"action": {"action_type": "no_such_action"}})
    report.check("http: a malformed action is a 422 with a FastAPI-style detail list",
                 status == 422 and isinstance(body, dict) and isinstance(body.get("detail"), list)
                 and all({"loc", "msg", "type"} <= set(d) for d in body["detail"]), {"status": status, "body": body})


def library_version() -> str:
    for dist in ("openenv", "openenv-core"):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--mode", choices=("async", "sync"), default="async",
                        help="use GenericEnvClient with await (async) or through .sync() (sync)")
    parser.add_argument("--checks", default="episodes,errors,http",
                        help="comma-separated: episodes, errors, http (default: all)")
    parser.add_argument("--seeds", type=int, default=2, help="episodes per task (seeds 0..N-1)")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    sections = {name.strip() for name in args.checks.split(",") if name.strip()}
    unknown = sections - {"episodes", "errors", "http"}
    if unknown:
        parser.error(f"unknown --checks {sorted(unknown)}")

    report = Report()
    seen_drugs: set[str] = set()
    # The error checks need drugs outside a regimen, which the episodes collect.
    if sections & {"episodes", "errors"}:
        for task_id in TASKS:
            for seed in range(args.seeds if "episodes" in sections else 1):
                try:
                    run_episode(report, url, args.mode, task_id, seed, seen_drugs)
                except Exception as exc:
                    report.crashed(f"episode {task_id} seed {seed}", exc)
    if "errors" in sections:
        try:
            run_errors(report, url, args.mode, seen_drugs)
        except Exception as exc:
            report.crashed("errors", exc)
    if "http" in sections:
        try:
            run_wire_models(report, url)
        except Exception as exc:
            report.crashed("http", exc)

    failures = report.failures
    observed = {k: sorted(map(str, v)) if isinstance(v, set) else v for k, v in report.observed.items()}
    summary = {
        "ok": not failures,
        "library": library_version(),
        "mode": args.mode if sections & {"episodes", "errors"} else None,
        "sections": sorted(sections),
        "url": url,
        "checks_run": len(report.checks),
        "checks_failed": len(failures),
        "failures": failures,
        "observed": observed,
        "checks": report.checks,
    }
    print(json.dumps(summary, indent=2, default=str))
    if not report.checks:
        print("FAILED: no checks ran", file=sys.stderr)
        return 1
    if failures:
        print(f"FAILED: {len(failures)} of {len(report.checks)} checks with {summary['library']} "
              f"({args.mode}): " + "; ".join(f["check"] for f in failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
