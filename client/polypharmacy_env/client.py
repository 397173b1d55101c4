"""``PolypharmacyEnv``: OpenEnv's WebSocket client, typed for a PolypharmacyEnv server.

``AutoEnv.from_env("polypharmacy_env", base_url=...)`` builds one (this module's path and class
name are OpenEnv's convention for the distribution ``openenv-polypharmacy_env``). It also reads
the server's Task API, which lists the splits a training run draws episodes from.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Dict, Optional, Union

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from polypharmacy_env.models import PolypharmacyAction, PolypharmacyObservation, PolypharmacyState

ENV_NAME = "polypharmacy_env"


class PolypharmacyEnv(EnvClient[PolypharmacyAction, PolypharmacyObservation, PolypharmacyState]):
    """Reset, step and state over one WebSocket session; ``splits``/``num_tasks``/``get_task``
    over HTTP. A step takes a ``PolypharmacyAction`` (or the same as a plain dict)."""

    def _step_payload(self, action: Union[PolypharmacyAction, Dict[str, Any]]) -> Dict[str, Any]:
        if isinstance(action, PolypharmacyAction):
            return action.to_wire()
        return PolypharmacyAction.model_validate(action).to_wire()

    def _parse_result(self, payload: Dict[str, Any]) -> StepResult[PolypharmacyObservation]:
        observation = PolypharmacyObservation(
            **payload.get("observation", {}), done=payload.get("done", False), reward=payload.get("reward"),
        )
        return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False),
                          metadata=payload.get("metadata"))

    def _parse_state(self, payload: Dict[str, Any]) -> PolypharmacyState:
        return PolypharmacyState(**payload)

    # ── the Task API (plain HTTP: discovery has no session) ────────────────────────────────
    def splits(self) -> list[dict[str, Any]]:
        """The splits: ``train``, ``test`` (seeds from 10000) and ``patients``, with their sizes."""
        return self._task_api("GET", "splits")

    def num_tasks(self, split: str) -> int:
        return int(self._task_api("POST", "num_tasks", {"split": split})["num_tasks"])

    def get_task(self, split: str, index: int) -> dict[str, Any]:
        """One task; ``reset(split=split, index=index)`` starts it."""
        return self._task_api("POST", "task", {"split": split, "index": index})["task"]

    def get_task_range(self, split: str, start: Optional[int] = None, stop: Optional[int] = None) -> list[dict[str, Any]]:
        return self._task_api("POST", "task_range", {"split": split, "start": start, "stop": stop})["tasks"]

    def _task_api(self, method: str, route: str, body: Optional[dict[str, Any]] = None) -> Any:
        base = (self.base_url or "").rstrip("/")
        for ws, http in (("wss://", "https://"), ("ws://", "http://")):
            if base.startswith(ws):
                base = http + base[len(ws):]
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{base}/{ENV_NAME}/{route}", data=data, method=method,
                                         headers={"Content-Type": "application/json", **(self._headers or {})})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
