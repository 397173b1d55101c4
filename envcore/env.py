"""PolypharmacyEnv: one medication review as a reinforcement-learning episode (DESIGN §3).

The environment is deterministic given the catalog, the patient and the actions: the only
randomness is the choice of patient at reset, and it is seeded. ``snapshot()`` captures the whole
episode as a JSON-serialisable dict; ``restore()`` continues it in another process exactly as if
it had never stopped.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Mapping

from envcore import rewards
from envcore.actions import Action, parse_action
from envcore.catalog import Catalog, Patient, pair_key
from envcore.errors import EpisodeFinishedError, NoEpisodeError, SnapshotError, ValidationError
from envcore.graders import GRADERS, GradeInputs
from envcore.observation import InteractionQuery, InterventionRecord, Observation, State
from envcore.regimen import Med, medication_entry, patient_start
from envcore.risk import regimen_risk
from envcore.scenarios import TASKS, TaskConfig, select_patient, task_config, validate_seed

SNAPSHOT_VERSION = 1
MAX_EPISODE_ID_LENGTH = 255


class PolypharmacyEnv:
    """The environment. ``catalog`` is a ``Catalog`` or the name of a shipped one."""

    def __init__(self, catalog: Catalog | str = "curated", seed: int | None = None) -> None:
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog.load(catalog)
        self._rng = random.Random(seed)
        self._patient: Patient | None = None
        self._task: TaskConfig = TASKS["budgeted_screening"]
        self._episode_id = ""
        self._obs: Observation | None = None

    # ── public API ─────────────────────────────────────────────────────────
    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        task_id: str | None = None,
        patient_id: str | None = None,
    ) -> Observation:
        """Start an episode. Validates everything before changing anything, so a bad argument
        raises ``ValidationError`` (naming the field) and leaves the current episode intact.

        ``patient_id`` without ``task_id`` runs the patient's own task."""
        seed = validate_seed(seed)
        if episode_id is not None and (
            not isinstance(episode_id, str) or not episode_id or len(episode_id) > MAX_EPISODE_ID_LENGTH
        ):
            raise ValidationError(
                f"episode_id must be a non-empty string of at most {MAX_EPISODE_ID_LENGTH} characters.",
                field="episode_id",
            )
        if task_id is None and isinstance(patient_id, str) and patient_id in self.catalog.patients:
            task_id = self.catalog.patients[patient_id].task_id
        task = task_config(task_id)
        patient = select_patient(self.catalog, task, seed=seed, patient_id=patient_id, rng=self._rng)
        start = patient_start(self.catalog, patient)

        self._task = task
        self._patient = patient
        self._episode_id = episode_id or uuid.uuid4().hex
        self._conditions = start.conditions
        self._severe_drugs = start.severe_drugs
        self._meds: list[Med | None] = [
            Med(e.drug_id, e.dose_mg) for e in start.entries
        ]
        self._entries = start.entries
        self._initial_count = len(start.entries)
        self._queries: list[InteractionQuery] = []
        self._interventions: list[InterventionRecord] = []
        self._queried: set[tuple[str, str]] = set()
        self._discoveries = 0
        self._drug_changes = 0
        self._critical_stopped = 0
        self._severe_hit = False
        self._step = 0
        self._remaining_queries = task.query_budget
        self._remaining_interventions = task.intervention_budget
        self._baseline_risk = start.baseline_risk
        self._risk = start.baseline_risk
        self._grader_score: float | None = None
        self._terminated = False
        self._truncated = False
        self._obs = self._observe(0.0, None, None, reset=True)
        return self._obs

    def step(self, action: Action | Mapping[str, Any]) -> Observation:
        """Take one action (typed, or a plain dict validated strictly).

        Raises ``ValidationError`` for a malformed action (nothing changes), ``NoEpisodeError``
        before reset and ``EpisodeFinishedError`` after the end. A well-formed action the
        environment refuses is a step: penalty, and ``last_action_error`` says why."""
        if self._patient is None:
            raise NoEpisodeError("No episode: call reset() first.")
        if self._terminated or self._truncated:
            raise EpisodeFinishedError(f"Episode {self._episode_id} has finished; reset to start another.")
        act = parse_action(action)
        self._step += 1
        last_query: InteractionQuery | None = None
        if act.action_type == "query_ddi":
            raw, error, last_query = self._query(act)
        elif act.action_type == "propose_intervention":
            raw, error = self._intervene(act)
        else:
            raw, error = self._finish(), None
        if error is not None:
            raw = -rewards.INVALID_ACTION_PENALTY
        if not self._terminated and self._step >= self._task.max_steps:
            # Time limit: truncated, graded, with the timeout penalty on top of the score.
            self._truncated = True
            self._grader_score = self._grade()
            raw += -rewards.TIMEOUT_PENALTY + self._grader_score
        self._obs = self._observe(raw, error, last_query)
        return self._obs

    @property
    def observation(self) -> Observation | None:
        return self._obs

    @property
    def done(self) -> bool:
        return self._terminated or self._truncated

    @property
    def state(self) -> State:
        if self._patient is None:
            return State(episode_id=None, step_count=0)
        return State(
            episode_id=self._episode_id,
            step_count=self._step,
            task_id=self._task.task_id,
            patient_id=self._patient.patient_id,
            catalog=self.catalog.name,
            max_steps=self._task.max_steps,
            remaining_query_budget=self._remaining_queries,
            remaining_intervention_budget=self._remaining_interventions,
            num_queries=len(self._queries),
            num_interventions=len(self._interventions),
            done=self.done,
            grader_score=self._grader_score,
        )

    @property
    def task(self) -> TaskConfig:
        return self._task

    @property
    def patient(self) -> Patient | None:
        return self._patient

    def medication_slots(self) -> list[str | None]:
        """Drug ids by slot: the starting regimen's order, a substitute in its original's slot,
        None where a drug was stopped. Slot numbers stay stable through an episode."""
        return [m.drug_id if m is not None else None for m in self._meds]

    def slot_state(self, slot: int) -> tuple[str, float, bool, bool] | None:
        """(drug_id, dose_mg, dose_reduced, monitored) of a slot, or None if empty."""
        med = self._meds[slot]
        return None if med is None else (med.drug_id, med.dose_mg, med.dose_reduced, med.monitored)

    def was_queried(self, drug_a: str, drug_b: str) -> bool:
        return pair_key(drug_a, drug_b) in self._queried

    @property
    def remaining_query_budget(self) -> int:
        return self._remaining_queries

    @property
    def remaining_intervention_budget(self) -> int:
        return self._remaining_interventions

    def substitute_for(self, target: str) -> str | None:
        """The drug the environment would put in place of ``target`` (None: no candidate)."""
        slot = self._slot_of(target)
        if slot is None:
            return None
        return self._safest_substitute(slot)

    # ── helpers ────────────────────────────────────────────────────────────
    def _slot_of(self, drug_id: str | None) -> int | None:
        for i, med in enumerate(self._meds):
            if med is not None and med.drug_id == drug_id:
                return i
        return None

    # ── refusals ───────────────────────────────────────────────────────────
    # A well-formed action the environment refuses is a penalised step on the wire, but the
    # review pages must refuse it at the form without stepping. Both use these checks, so the
    # page's field errors and the step's ``last_action_error`` can never disagree.
    def refusal(self, action: Action | Mapping[str, Any]) -> tuple[str, str] | None:
        """Why the environment would refuse ``action`` now, as (field, message), or None.

        Pure: nothing changes. ``field`` is the action field at fault (``drug_id_1``,
        ``drug_id_2``, ``target_drug_id``, ``intervention_type``, ``proposed_new_drug_id``), or
        ``action_type`` for an exhausted budget. The message is the step's ``last_action_error``.
        Raises ``ValidationError`` for a malformed action and ``NoEpisodeError`` before reset."""
        if self._patient is None:
            raise NoEpisodeError("No episode: call reset() first.")
        act = parse_action(action)
        if act.action_type == "query_ddi":
            return self._query_refusal(act)
        if act.action_type == "propose_intervention":
            return self._intervention_check(act)[0]
        return None

    def _query_refusal(self, act: Action) -> tuple[str, str] | None:
        a, b = act.drug_id_1, act.drug_id_2
        if a == b:
            return "drug_id_2", "query_ddi needs two different drugs (drug_id_1 equals drug_id_2)."
        for name, drug_id in (("drug_id_1", a), ("drug_id_2", b)):
            if self._slot_of(drug_id) is None:
                return name, f"{name} {drug_id!r} is not in the current regimen."
        if self._remaining_queries <= 0:
            return "action_type", "Query budget exhausted."
        return None

    def _intervention_check(self, act: Action) -> tuple[tuple[str, str] | None, int, str | None]:
        """(refusal, slot of the target, the substitute that would be put in place)."""
        target, kind = act.target_drug_id, act.intervention_type
        if self._remaining_interventions <= 0:
            return ("action_type", "Intervention budget exhausted."), -1, None
        slot = self._slot_of(target)
        if slot is None:
            return ("target_drug_id", f"target_drug_id {target!r} is not in the current regimen."), -1, None
        med = self._meds[slot]
        assert med is not None
        drug = self.catalog.drugs[med.drug_id]
        if kind == "dose_reduce" and med.dose_mg <= drug.min_dose_mg:
            return ("intervention_type", f"{target} is already at its minimum dose ({drug.min_dose_mg:g} mg)."), slot, None
        if kind == "add_monitoring" and med.monitored:
            return ("intervention_type", f"{target} is already monitored."), slot, None
        if kind == "substitute":
            new_drug_id, error = self._resolve_substitute(slot, act.proposed_new_drug_id)
            if error is not None:
                # No named drug: the environment found no candidate, a fault of the target.
                field = "proposed_new_drug_id" if act.proposed_new_drug_id else "target_drug_id"
                return (field, error), slot, None
            return None, slot, new_drug_id
        return None, slot, None

    # ── actions ────────────────────────────────────────────────────────────
    def _query(self, act: Action) -> tuple[float, str | None, InteractionQuery | None]:
        refused = self._query_refusal(act)
        if refused is not None:
            return 0.0, refused[1], None
        a, b = act.drug_id_1, act.drug_id_2
        assert a is not None and b is not None
        self._remaining_queries -= 1
        key = pair_key(a, b)
        rule = self.catalog.rules.get(key)
        severity = rule.severity if rule else "none"
        first_time = key not in self._queried
        self._queried.add(key)
        # A pair earns its discovery bonus once per episode: re-querying is allowed but pays nothing.
        new_severity = severity if first_time and severity in ("severe", "moderate") else None
        if new_severity is not None:
            self._discoveries += 1
        record = InteractionQuery(
            drug_id_1=a,
            drug_id_2=b,
            severity=severity,
            recommendation=rule.recommendation if rule else "no_action",
            risk_score=rule.base_risk_score if rule else 0.0,
            step_index=self._step,
        )
        self._queries.append(record)
        return rewards.query_reward(new_severity), None, record

    def _intervene(self, act: Action) -> tuple[float, str | None]:
        refused, slot, new_drug_id = self._intervention_check(act)
        if refused is not None:
            # Includes a substitution that finds no candidate: no budget used, not recorded.
            return 0.0, refused[1]
        target, kind = act.target_drug_id, act.intervention_type
        med = self._meds[slot]
        assert med is not None
        drug = self.catalog.drugs[med.drug_id]

        previous_risk = self._risk
        if kind == "stop":
            self._meds[slot] = None
            self._drug_changes += 1
            if drug.is_critical:
                self._critical_stopped += 1
        elif kind == "dose_reduce":
            med.dose_mg = max(drug.min_dose_mg, med.dose_mg * 0.5)
            med.dose_reduced = True
        elif kind == "substitute":
            assert new_drug_id is not None
            self._meds[slot] = Med(new_drug_id, self.catalog.drugs[new_drug_id].default_dose_mg)
            self._drug_changes += 1
        else:  # add_monitoring
            med.monitored = True
        self._remaining_interventions -= 1
        self._risk = self._compute_risk(self._meds)
        delta = previous_risk - self._risk
        if delta > 0 and target in self._severe_drugs:
            self._severe_hit = True
        self._interventions.append(
            InterventionRecord(
                target_drug_id=med.drug_id,
                action_type=kind or "",
                proposed_new_drug_id=new_drug_id,
                rationale=act.rationale or "",
                step_index=self._step,
                risk_delta=delta,
            )
        )
        self._entries = tuple(
            medication_entry(self.catalog, m, self._patient.conditions) for m in self._meds if m is not None  # type: ignore[union-attr]
        )
        return rewards.intervention_reward(previous_risk, self._risk), None

    def _resolve_substitute(self, slot: int, proposed: str | None) -> tuple[str | None, str | None]:
        med = self._meds[slot]
        assert med is not None
        target = self.catalog.drugs[med.drug_id]
        in_regimen = {m.drug_id for m in self._meds if m is not None}
        if proposed is None:
            choice = self._safest_substitute(slot)
            if choice is None:
                return None, f"No substitute of the same class ({target.atc_class}) is available for {target.drug_id}."
            return choice, None
        new = self.catalog.drugs.get(proposed)
        if new is None:
            return None, f"proposed_new_drug_id {proposed!r} is not a known drug."
        if proposed == target.drug_id:
            return None, "proposed_new_drug_id must differ from target_drug_id."
        if new.atc_class != target.atc_class:
            return None, (
                f"proposed_new_drug_id {proposed} (class {new.atc_class}) is not in the same "
                f"therapeutic class as {target.drug_id} ({target.atc_class})."
            )
        if proposed in in_regimen:
            return None, f"proposed_new_drug_id {proposed} is already in the regimen."
        return proposed, None

    def _safest_substitute(self, slot: int) -> str | None:
        """The same-class drug, not already taken, that leaves the lowest regimen risk
        (ties: not high-risk first, then by id, so the choice is deterministic)."""
        med = self._meds[slot]
        assert med is not None
        in_regimen = {m.drug_id for m in self._meds if m is not None}
        best: tuple[float, bool, str] | None = None
        for candidate in self.catalog.same_class(med.drug_id):
            if candidate in in_regimen:
                continue
            trial = list(self._meds)
            trial[slot] = Med(candidate, self.catalog.drugs[candidate].default_dose_mg)
            key = (self._compute_risk(trial), self.catalog.drugs[candidate].is_high_risk_elderly, candidate)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def _compute_risk(self, meds: list[Med | None]) -> float:
        present = [m for m in meds if m is not None]
        return regimen_risk(self.catalog, present, self._conditions, self._initial_count)  # type: ignore[arg-type]

    def _finish(self) -> float:
        self._terminated = True
        self._grader_score = self._grade()
        return self._grader_score

    def _grade(self) -> float:
        inputs = GradeInputs(
            baseline_risk=self._baseline_risk,
            final_risk=self._risk,
            risk_deltas=[i.risk_delta for i in self._interventions],
            severe_hit=self._severe_hit,
            num_queries=len(self._queries),
            discoveries=self._discoveries,
            drug_changes=self._drug_changes,
            critical_stopped=self._critical_stopped,
        )
        return GRADERS[self._task.task_id](inputs)

    def _observe(
        self, raw: float, error: str | None, last_query: InteractionQuery | None, reset: bool = False
    ) -> Observation:
        patient = self._patient
        assert patient is not None
        return Observation(
            episode_id=self._episode_id,
            task_id=self._task.task_id,
            patient_id=patient.patient_id,
            catalog=self.catalog.name,
            age=patient.age,
            sex=patient.sex,
            conditions=patient.conditions,
            eGFR_category=patient.eGFR_category,
            liver_function_category=patient.liver_function_category,
            current_medications=self._entries,
            interaction_queries=tuple(self._queries),
            interventions=tuple(self._interventions),
            step_index=self._step,
            max_steps=self._task.max_steps,
            remaining_query_budget=self._remaining_queries,
            remaining_intervention_budget=self._remaining_interventions,
            shaped_reward=0.0 if reset else rewards.clamp_reward(raw),
            raw_reward=raw,
            last_action_error=error,
            last_query_result=last_query,
            current_risk=self._risk,
            baseline_risk=self._baseline_risk,
            grader_score=self._grader_score,
            terminated=self._terminated,
            truncated=self._truncated,
        )

    # ── snapshot / restore ─────────────────────────────────────────────────
    def snapshot(self) -> dict[str, Any]:
        """The whole episode as a JSON-serialisable dict (floats round-trip exactly in JSON)."""
        if self._patient is None or self._obs is None:
            raise NoEpisodeError("No episode to snapshot: call reset() first.")
        obs = self._obs
        return {
            "version": SNAPSHOT_VERSION,
            "catalog": self.catalog.name,
            "catalog_fingerprint": self.catalog.fingerprint,
            "episode_id": self._episode_id,
            "task_id": self._task.task_id,
            "patient_id": self._patient.patient_id,
            "meds": [None if m is None else [m.drug_id, m.dose_mg, m.dose_reduced, m.monitored] for m in self._meds],
            "queries": [q.to_dict() for q in self._queries],
            "interventions": [i.to_dict() for i in self._interventions],
            "queried": sorted(list(k) for k in self._queried),
            "discoveries": self._discoveries,
            "drug_changes": self._drug_changes,
            "critical_stopped": self._critical_stopped,
            "severe_hit": self._severe_hit,
            "step": self._step,
            "remaining_queries": self._remaining_queries,
            "remaining_interventions": self._remaining_interventions,
            "baseline_risk": self._baseline_risk,
            "risk": self._risk,
            "grader_score": self._grader_score,
            "terminated": self._terminated,
            "truncated": self._truncated,
            "last": {
                "raw_reward": obs.raw_reward,
                "error": obs.last_action_error,
                "query": obs.last_query_result.to_dict() if obs.last_query_result else None,
                "reset": obs.step_index == 0,
            },
        }

    def restore(self, snap: Mapping[str, Any], *, strict: bool = True) -> Observation:
        """Continue an episode from ``snapshot()`` output. With ``strict`` (the default) the
        catalog must be the one the snapshot was taken on (same content fingerprint)."""
        try:
            if snap.get("version") != SNAPSHOT_VERSION:
                raise SnapshotError(f"Unsupported snapshot version {snap.get('version')!r}.")
            if snap["catalog"] != self.catalog.name or (
                strict and snap["catalog_fingerprint"] != self.catalog.fingerprint
            ):
                raise SnapshotError("The snapshot was taken on another catalog (or another version of it).")
            task = TASKS[snap["task_id"]]
            patient = self.catalog.patients[snap["patient_id"]]
            meds = [None if m is None else Med(m[0], float(m[1]), bool(m[2]), bool(m[3])) for m in snap["meds"]]
            for med in meds:
                if med is not None and med.drug_id not in self.catalog.drugs:
                    raise SnapshotError(f"The snapshot names a drug the catalog lacks: {med.drug_id}.")
            queries = [InteractionQuery(**q) for q in snap["queries"]]
            interventions = [InterventionRecord(**i) for i in snap["interventions"]]
            last = snap["last"]
            last_query = InteractionQuery(**last["query"]) if last["query"] else None
        except SnapshotError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SnapshotError(f"Corrupt snapshot: {exc!r}") from exc

        start = patient_start(self.catalog, patient)
        self._task = task
        self._patient = patient
        self._episode_id = snap["episode_id"]
        self._conditions = start.conditions
        self._severe_drugs = start.severe_drugs
        self._meds = meds
        self._initial_count = len(patient.medication_ids)
        self._entries = tuple(medication_entry(self.catalog, m, patient.conditions) for m in meds if m is not None)
        self._queries = queries
        self._interventions = interventions
        self._queried = {tuple(k) for k in snap["queried"]}  # type: ignore[misc]
        self._discoveries = snap["discoveries"]
        self._drug_changes = snap["drug_changes"]
        self._critical_stopped = snap["critical_stopped"]
        self._severe_hit = snap["severe_hit"]
        self._step = snap["step"]
        self._remaining_queries = snap["remaining_queries"]
        self._remaining_interventions = snap["remaining_interventions"]
        self._baseline_risk = snap["baseline_risk"]
        self._risk = snap["risk"]
        self._grader_score = snap["grader_score"]
        self._terminated = snap["terminated"]
        self._truncated = snap["truncated"]
        self._obs = self._observe(last["raw_reward"], last["error"], last_query, reset=last["reset"])
        return self._obs
