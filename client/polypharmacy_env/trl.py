"""PolypharmacyEnv as a TRL environment: ``GRPOTrainer(environment_factory=PolypharmacyToolEnv)``.

TRL makes one instance per rollout (the class is called with no argument), calls ``reset(**row)``
with the training dataset's row (so ``task_id``, ``seed``, ``catalog`` or ``patient_id`` columns
pick the episode) and appends the returned text to the prompt; every public method but ``reset``
and ``get_reward`` is a tool the model may call (its schema read from the type hints and the
Google-style docstring by ``transformers.utils.get_json_schema``); ``get_reward`` scores the
rollout once it is over. The tools are the environment's three actions; each answers with the
review's state as text.

The text is the server's own rendering (``GET /render``): the same one the site's LLM suggester
is prompted with, so a model trained here reads what the review pages' suggester reads. It talks
to a running server over HTTP (``POST /reset``, ``/step``, ``GET /render``) with the standard
library only, naming the episode on every call (no cookies); this module imports nothing else of
the client package, so it also works copied alone.

Where the server is: ``base_url``, else ``$POLYPHARMACY_ENV_URL``, else http://127.0.0.1:8000;
a token (``Authorization: Token …``, for a server with ``POLYPHARMACY_API_AUTH=required``):
``token``, else ``$POLYPHARMACY_ENV_TOKEN``. To pass arguments through TRL's zero-argument
factory, use ``functools.partial(PolypharmacyToolEnv, base_url=…)``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Literal

DEFAULT_URL = "http://127.0.0.1:8000"
RESET_FIELDS = ("seed", "task_id", "catalog", "patient_id")


class PolypharmacyServerError(RuntimeError):
    """The server refused a request or could not be reached; the message says why (TRL shows a
    tool's error to the model as the tool's result)."""


class PolypharmacyToolEnv:
    """One medication review at a time on a PolypharmacyEnv server, for TRL's GRPOTrainer."""

    def __init__(self, base_url: str | None = None, *, token: str | None = None, task_id: str | None = None,
                 catalog: str | None = None, durability: str = "fast", timeout_s: float = 30.0) -> None:
        self._base_url = (base_url or os.environ.get("POLYPHARMACY_ENV_URL") or DEFAULT_URL).rstrip("/")
        self._token = token if token is not None else os.environ.get("POLYPHARMACY_ENV_TOKEN") or None
        # Defaults for rows that do not name them; training episodes need not wait for the disk.
        self._defaults = {"task_id": task_id, "catalog": catalog, "durability": durability}
        self._timeout_s = timeout_s
        self._episode_id: str | None = None
        self._done = False
        self._grader_score: float | None = None

    # ── TRL's protocol ──────────────────────────────────────────────────────
    def reset(self, **row: Any) -> str:
        """Start a new review: ``seed``, ``task_id``, ``catalog`` and ``patient_id`` are taken from
        the dataset row when it has them (other columns, the prompt among them, are ignored).
        Returns the review's first state as text."""
        body = {k: v for k, v in self._defaults.items() if v is not None}
        body.update({k: row[k] for k in RESET_FIELDS if row.get(k) is not None})
        answer = self._request("POST", "/reset", body)
        self._episode_id = answer["observation"]["episode_id"]
        self._done, self._grader_score = False, None
        return self._render()

    def get_reward(self) -> float:
        """The rollout's reward: the grader score of a review that ended (finished, or cut at
        the step limit), 0.0 for one left open (finishing is part of the task)."""
        return float(self._grader_score) if self._grader_score is not None else 0.0

    # ── the tools ───────────────────────────────────────────────────────────
    def query_ddi(self, drug_id_1: str, drug_id_2: str) -> str:
        """Look up the interaction between two drugs of the patient's current regimen. Uses one query of the budget.

        Args:
            drug_id_1: The first drug's drug_id, from current_medications (for example DRUG_WARFARIN).
            drug_id_2: The second drug's drug_id, from current_medications, different from the first.

        Returns:
            The review's state after the query, as text; the result is the newest of interaction_queries.
        """
        return self._step({"action_type": "query_ddi", "drug_id_1": drug_id_1, "drug_id_2": drug_id_2})

    def propose_intervention(self, target_drug_id: str,
                             intervention_type: Literal["stop", "dose_reduce", "substitute", "add_monitoring"],
                             proposed_new_drug_id: str | None = None, rationale: str | None = None) -> str:
        """Change one drug of the regimen: stop it, reduce its dose, substitute it or monitor it. Uses one intervention of the budget.

        Args:
            target_drug_id: The drug_id of the drug to change, from current_medications.
            intervention_type: What to do with it.
            proposed_new_drug_id: For a substitution only: one of the drug's substitute candidates; leave it out to let the environment choose the safest.
            rationale: Why, in a sentence (kept with the review, not scored).

        Returns:
            The review's state after the intervention, as text (risk_delta says how much it lowered the risk).
        """
        action: dict[str, Any] = {"action_type": "propose_intervention", "target_drug_id": target_drug_id,
                                  "intervention_type": intervention_type}
        if proposed_new_drug_id is not None:
            action["proposed_new_drug_id"] = proposed_new_drug_id
        if rationale is not None:
            action["rationale"] = rationale
        return self._step(action)

    def finish_review(self) -> str:
        """End the review; it is then graded on how much lower the regimen's risk is.

        Returns:
            The final state as text, with the grader_score.
        """
        return self._step({"action_type": "finish_review"})

    # ── HTTP ────────────────────────────────────────────────────────────────
    def _step(self, action: dict[str, Any]) -> str:
        if self._episode_id is None:
            raise PolypharmacyServerError("No review is open: reset first.")
        if self._done:
            raise PolypharmacyServerError("The review has ended; it takes no more actions.")
        answer = self._request("POST", "/step", {"action": action, "episode_id": self._episode_id})
        observation = answer["observation"]
        self._done = bool(answer["done"])
        self._grader_score = observation.get("grader_score")
        return self._render()

    def _render(self) -> str:
        query = urllib.parse.urlencode({"episode_id": self._episode_id})
        return self._request("GET", f"/render?{query}")["text"]

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Token {self._token}"
        request = urllib.request.Request(self._base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise PolypharmacyServerError(f"{method} {path.split('?')[0]}: HTTP {exc.code}: {_detail(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PolypharmacyServerError(f"{method} {path.split('?')[0]}: cannot reach {self._base_url} ({reason})") from None


def _detail(exc: urllib.error.HTTPError) -> str:
    """The server's message: ``detail`` as a string, or the first 422 item's ``msg``."""
    try:
        detail = json.loads(exc.read(64 * 1024) or b"{}").get("detail")
    except (ValueError, AttributeError):
        return exc.reason or "no detail"
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return "; ".join(str(item.get("msg")) for item in detail)
    return str(detail)
