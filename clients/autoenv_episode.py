"""Drive a running PolypharmacyEnv server through ``AutoEnv.from_env("polypharmacy_env")`` after
the client package (``client/``, distribution ``openenv-polypharmacy_env``) is installed.

Run INSIDE an environment holding openenv 0.10.0 and the installed client package (the live test
builds one on top of ``.venv-openenv-0.10.0``):

    python clients/autoenv_episode.py --url http://127.0.0.1:8000

Checks: AutoEnv discovers the package and builds its typed client; a full episode with typed
actions and observations; the Task API (splits, a task, reset with its split and index); and the
package's models against what the server publishes at ``/schema`` (the same fields), so the
package cannot drift from the server's contract unnoticed. Prints a JSON summary; exits 1 when a
check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import urllib.request
from typing import Any

from openenv import AutoEnv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    url = parser.parse_args(argv).url.rstrip("/")
    results: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: Any = None) -> None:
        results.append({"check": name, "ok": bool(ok), **({"detail": detail} if not ok else {})})

    try:
        run(check, url)
    except Exception as exc:
        check(f"stopped by {type(exc).__name__}: {str(exc)[:300]}", False, "".join(traceback.format_exception(exc))[-4000:])
    failures = [c for c in results if not c["ok"]]
    print(json.dumps({"ok": not failures and bool(results), "failures": failures, "checks": results}, indent=2,
                     default=str))
    return 0 if results and not failures else 1


def run(check: Any, url: str) -> None:
    from polypharmacy_env import (PolypharmacyAction, PolypharmacyEnv, PolypharmacyObservation,
                                  PolypharmacyState)

    env = AutoEnv.from_env("polypharmacy_env", base_url=url)
    check("AutoEnv.from_env builds the package's typed client", type(env) is PolypharmacyEnv, type(env).__name__)
    with env.sync() as client:
        result = client.reset(task_id="budgeted_screening", seed=3)
        obs = result.observation
        check("reset gives a typed observation", isinstance(obs, PolypharmacyObservation)
              and obs.task_id == "budgeted_screening" and result.done is False and obs.step_index == 0, repr(obs)[:300])
        a, b = [med.drug_id for med in obs.current_medications[:2]]
        result = client.step(PolypharmacyAction.query_ddi(a, b))
        check("a typed query_ddi is a step", result.observation.step_index == 1
              and len(result.observation.interaction_queries) == 1, repr(result)[:300])
        result = client.step(PolypharmacyAction.propose_intervention(a, "add_monitoring", rationale="AutoEnv check"))
        check("a typed propose_intervention is a step", len(result.observation.interventions) == 1, repr(result)[:300])
        result = client.step(PolypharmacyAction.finish_review())
        score = result.observation.grader_score
        check("finish_review ends it with a grader score", result.done and score is not None and 0.001 <= score <= 0.999,
              repr(result)[:300])
        state = client.state()
        check("state() is typed and counts the steps", isinstance(state, PolypharmacyState) and state.step_count == 3
              and state.episode_id == obs.episode_id, repr(state))

        splits = {split["name"]: split["num_tasks"] for split in client.splits()}
        check("the Task API lists train, test and patients", set(splits) == {"train", "test", "patients"}
              and client.num_tasks("test") == splits["test"], splits)
        task = client.get_task("patients", 11)
        result = client.reset(split="patients", index=11)
        check("reset(split, index) starts the task the Task API describes",
              result.observation.patient_id == task["reset"]["patient_id"], {"task": task, "patient": result.observation.patient_id})

    with urllib.request.urlopen(f"{url}/schema", timeout=30) as response:
        published = json.loads(response.read())
    base = {"done", "reward", "metadata"}
    ours = {"action": set(PolypharmacyAction.model_fields),  # metadata too: OpenEnv's, accepted and ignored
            "observation": set(PolypharmacyObservation.model_fields) - base,
            "state": set(PolypharmacyState.model_fields)}
    for part, fields in ours.items():
        theirs = set(published[part]["properties"])
        check(f"the package's {part} model has the fields /schema publishes", fields == theirs,
              {"only in the package": sorted(fields - theirs), "only on the server": sorted(theirs - fields)})


if __name__ == "__main__":
    sys.exit(main())
