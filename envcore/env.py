"""PolypharmacyEnv: one medication review as a reinforcement-learning episode (DESIGN §3).

The environment is deterministic given the catalog, the patient and the actions: the only
randomness is the choice of patient at reset, and it is seeded. Everything an episode changes
lives in one ``EpisodeState``: ``snapshot()`` is its JSON form, ``restore()`` reads it back (and
continues the episode in another process exactly as if it had never stopped), ``fork()`` copies
it so a step can be tried on the copy and kept only once it is stored.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Mapping

from pydantic import PlainSerializer, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from envcore import rewards
from envcore.catalog import Catalog, Patient, pair_key
from envcore.contract import EnvReset, FinishReview, ProposeIntervention, QueryDDI, parse_action, validate
from envcore.errors import EpisodeFinishedError, NoEpisodeError, SnapshotError
from envcore.graders import GRADERS, GradeInputs
from envcore.indications import needed_for
from envcore.observation import InteractionQuery, InterventionRecord, MedicationEntry, Observation, State
from envcore.refusal import intervention_refusal, query_refusal
from envcore.regimen import Med, PatientStart, medication_entries, patient_start
from envcore.risk import regimen_risk
from envcore.scenarios import DEFAULT_TASK, TASKS, TaskConfig, select_patient

SNAPSHOT_VERSION = 1


@dataclass(slots=True)
class LastStep:
    """What the last step said, so a restored episode shows the same observation."""

    raw_reward: float
    error: str | None
    query: InteractionQuery | None
    reset: bool


@dataclass(slots=True)
class EpisodeState:
    """Everything an episode changes. Containers are tuples and frozensets, replaced rather than
    mutated, so a copy of this object is a complete, independent copy of the episode."""

    catalog: str
    catalog_fingerprint: str
    episode_id: str
    task_id: str
    patient_id: str
    meds: tuple[Med | None, ...]  # by slot: the starting order, None where a drug was stopped
    queries: tuple[InteractionQuery, ...]
    interventions: tuple[InterventionRecord, ...]
    # Serialised sorted, so equal episodes give equal snapshots in any process.
    queried: Annotated[frozenset[tuple[str, str]], PlainSerializer(sorted, return_type=list[tuple[str, str]])]
    discoveries: int
    drug_changes: int
    critical_stopped: int
    severe_hit: bool
    step: int
    remaining_queries: int
    remaining_interventions: int
    baseline_risk: float
    risk: float
    grader_score: float | None
    terminated: bool
    truncated: bool
    last: LastStep
    # Drugs stopped without a substitute while the patient needed them (envcore.indications),
    # in the state they were stopped in: their risk contributions still count (see _intervene).
    # Defaulted, so snapshots taken before it existed still restore.
    stopped_needed: tuple[Med, ...] = ()
    version: int = SNAPSHOT_VERSION

    def copy(self) -> "EpisodeState":
        twin = object.__new__(EpisodeState)
        for name in _STATE_FIELDS:
            object.__setattr__(twin, name, getattr(self, name))
        return twin


_STATE_FIELDS = tuple(EpisodeState.__slots__)
_STATE = TypeAdapter(EpisodeState)


class PolypharmacyEnv:
    """The environment. ``catalog`` is a ``Catalog`` or the name of a shipped one."""

    def __init__(self, catalog: Catalog | str = "curated", seed: int | None = None) -> None:
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog.load(catalog)
        self._rng = random.Random(seed)
        self._state: EpisodeState | None = None
        # Derived from the state and the catalog, kept for speed: the task, the patient, what
        # the patient starts with, and the medication entries shown.
        self._task: TaskConfig = TASKS[DEFAULT_TASK]
        self._patient: Patient | None = None
        self._start: PatientStart | None = None
        self._entries: tuple[MedicationEntry, ...] = ()
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
        args = validate(EnvReset, {"seed": seed, "episode_id": episode_id, "task_id": task_id,
                                   "patient_id": patient_id})
        task_id = args.task_id
        if task_id is None and args.patient_id in self.catalog.patients:
            task_id = self.catalog.patients[args.patient_id].task_id
        task = TASKS[task_id or DEFAULT_TASK]
        patient = select_patient(self.catalog, task, seed=args.seed, patient_id=args.patient_id, rng=self._rng)
        start = patient_start(self.catalog, patient)
        self._task, self._patient, self._start, self._entries = task, patient, start, start.entries
        self._state = EpisodeState(
            catalog=self.catalog.name,
            catalog_fingerprint=self.catalog.fingerprint,
            episode_id=args.episode_id or uuid.uuid4().hex,
            task_id=task.task_id,
            patient_id=patient.patient_id,
            meds=start.meds,
            queries=(),
            interventions=(),
            queried=frozenset(),
            discoveries=0,
            drug_changes=0,
            critical_stopped=0,
            severe_hit=False,
            step=0,
            remaining_queries=task.query_budget,
            remaining_interventions=task.intervention_budget,
            baseline_risk=start.baseline_risk,
            risk=start.baseline_risk,
            grader_score=None,
            terminated=False,
            truncated=False,
            last=LastStep(0.0, None, None, True),
        )
        self._obs = self._observe()
        return self._obs

    def step(self, action: QueryDDI | ProposeIntervention | FinishReview | Mapping[str, Any]) -> Observation:
        """Take one action (typed, or a plain dict validated strictly).

        Raises ``ValidationError`` for a malformed action (nothing changes), ``NoEpisodeError``
        before reset and ``EpisodeFinishedError`` after the end. A well-formed action the
        environment refuses is a step: penalty, and ``last_action_error`` says why."""
        s = self._state
        if s is None:
            raise NoEpisodeError("No episode: call reset() first.")
        if s.terminated or s.truncated:
            raise EpisodeFinishedError(f"Episode {s.episode_id} has finished; reset to start another.")
        act = parse_action(action)
        s.step += 1
        last_query: InteractionQuery | None = None
        if act.action_type == "query_ddi":
            raw, error, last_query = self._query(act)
        elif act.action_type == "propose_intervention":
            raw, error = self._intervene(act)
        else:
            raw, error = self._finish(), None
        if error is not None:
            raw = -rewards.INVALID_ACTION_PENALTY
        if not s.terminated and s.step >= self._task.max_steps:
            # Time limit: truncated, graded, with the timeout penalty on top of the score.
            s.truncated = True
            s.grader_score = self._grade()
            raw += -rewards.TIMEOUT_PENALTY + s.grader_score
        s.last = LastStep(raw, error, last_query, False)
        self._obs = self._observe()
        return self._obs

    def fork(self) -> "PolypharmacyEnv":
        """An independent copy of this environment at its current step (a few microseconds):
        step the copy, and keep it only if the step is kept."""
        twin = object.__new__(PolypharmacyEnv)
        twin.catalog, twin._rng = self.catalog, self._rng
        twin._task, twin._patient, twin._start = self._task, self._patient, self._start
        twin._entries, twin._obs = self._entries, self._obs
        twin._state = self._state.copy() if self._state is not None else None
        return twin

    @property
    def observation(self) -> Observation | None:
        return self._obs

    @property
    def done(self) -> bool:
        return self._state is not None and (self._state.terminated or self._state.truncated)

    @property
    def state(self) -> State:
        s = self._state
        if s is None:
            return State(episode_id=None, step_count=0)
        return State(
            episode_id=s.episode_id,
            step_count=s.step,
            task_id=s.task_id,  # type: ignore[arg-type]  # one of TASK_IDS, checked at reset
            patient_id=s.patient_id,
            catalog=s.catalog,
            max_steps=self._task.max_steps,
            remaining_query_budget=s.remaining_queries,
            remaining_intervention_budget=s.remaining_interventions,
            num_queries=len(s.queries),
            num_interventions=len(s.interventions),
            done=s.terminated or s.truncated,
            grader_score=s.grader_score,
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
        return [m.drug_id if m is not None else None for m in self._live().meds]

    def slot_states(self) -> list[tuple[str, float, bool, bool] | None]:
        """(drug_id, dose_mg, dose_reduced, monitored) of every slot, None where it is empty."""
        # A Med is that tuple already: the adapter reads them at every step, without a copy each.
        return list(self._live().meds)

    def stopped_needed(self) -> tuple[str, ...]:
        """Drugs stopped without a substitute while needed for a condition, in stopping order:
        their risk still counts (the regimen's risk, rewards and grades all read it)."""
        return tuple(m.drug_id for m in self._live().stopped_needed)

    def was_queried(self, drug_a: str, drug_b: str) -> bool:
        return pair_key(drug_a, drug_b) in self._live().queried

    @property
    def queried_pairs(self) -> frozenset[tuple[str, str]]:
        """The drug pairs queried so far, as ``pair_key``s."""
        return self._live().queried

    @property
    def remaining_query_budget(self) -> int:
        return self._live().remaining_queries

    @property
    def remaining_intervention_budget(self) -> int:
        return self._live().remaining_interventions

    def substitute_for(self, target: str) -> str | None:
        """The drug the environment would put in place of ``target`` (None: no candidate)."""
        slot = self._slot_of(target)
        if slot is None:
            return None
        return self._safest_substitute(slot)

    # ── helpers ────────────────────────────────────────────────────────────
    def _live(self) -> EpisodeState:
        if self._state is None:
            raise NoEpisodeError("No episode: call reset() first.")
        return self._state

    def _slot_of(self, drug_id: str | None) -> int | None:
        for i, med in enumerate(self._live().meds):
            if med is not None and med.drug_id == drug_id:
                return i
        return None

    # ── refusals ───────────────────────────────────────────────────────────
    # A well-formed action the environment refuses is a penalised step on the wire, but the
    # review pages must refuse it at the form without stepping. Both use these checks, so the
    # page's field errors and the step's ``last_action_error`` can never disagree.
    def refusal(self, action: QueryDDI | ProposeIntervention | FinishReview | Mapping[str, Any]) -> tuple[str, str] | None:
        """Why the environment would refuse ``action`` now, as (field, message), or None.

        Pure: nothing changes. ``field`` is the action field at fault (``drug_id_1``,
        ``drug_id_2``, ``target_drug_id``, ``intervention_type``, ``proposed_new_drug_id``), or
        ``action_type`` for an exhausted budget. The message is the step's ``last_action_error``.
        Raises ``ValidationError`` for a malformed action and ``NoEpisodeError`` before reset."""
        self._live()
        act = parse_action(action)
        if isinstance(act, QueryDDI):
            return self._query_refusal(act)
        if isinstance(act, ProposeIntervention):
            return self._intervention_check(act)[0]
        return None

    def _regimen(self) -> dict[str, Med]:
        return {m.drug_id: m for m in self._live().meds if m is not None}

    def _query_refusal(self, act: QueryDDI) -> tuple[str, str] | None:
        return query_refusal(act.drug_id_1, act.drug_id_2, regimen=self._regimen(),
                             remaining_queries=self._live().remaining_queries)

    def _intervention_check(self, act: ProposeIntervention) -> tuple[tuple[str, str] | None, int, str | None]:
        """(refusal, slot of the target, the substitute that would be put in place)."""
        refused = intervention_refusal(act.target_drug_id, act.intervention_type, act.proposed_new_drug_id,
                                       meds=self._regimen(), remaining_interventions=self._live().remaining_interventions,
                                       catalog=self.catalog)
        slot = self._slot_of(act.target_drug_id)
        if refused is not None or slot is None:
            return refused, -1 if slot is None else slot, None
        if act.intervention_type == "substitute":
            # Not refused: the named drug, or (none named) the safest free one of the class.
            return None, slot, act.proposed_new_drug_id or self._safest_substitute(slot)
        return None, slot, None

    # ── actions ────────────────────────────────────────────────────────────
    def _query(self, act: QueryDDI) -> tuple[float, str | None, InteractionQuery | None]:
        refused = self._query_refusal(act)
        if refused is not None:
            return 0.0, refused[1], None
        s = self._state
        assert s is not None
        a, b = act.drug_id_1, act.drug_id_2
        s.remaining_queries -= 1
        key = pair_key(a, b)
        rule = self.catalog.rules.get(key)
        severity = rule.severity if rule else "none"
        first_time = key not in s.queried
        if first_time:
            s.queried = s.queried | {key}
        # A pair earns its discovery bonus once per episode: re-querying is allowed but pays nothing.
        new_severity = severity if first_time and severity in ("severe", "moderate") else None
        if new_severity is not None:
            s.discoveries += 1
        record = InteractionQuery(
            drug_id_1=a,
            drug_id_2=b,
            severity=severity,  # type: ignore[arg-type]  # the catalog's severities are the contract's
            recommendation=rule.recommendation if rule else "no_action",
            risk_score=rule.base_risk_score if rule else 0.0,
            step_index=s.step,
        )
        s.queries = (*s.queries, record)
        return rewards.query_reward(new_severity), None, record

    def _intervene(self, act: ProposeIntervention) -> tuple[float, str | None]:
        refused, slot, new_drug_id = self._intervention_check(act)
        if refused is not None:
            # Includes a substitution that finds no candidate: no budget used, not recorded.
            return 0.0, refused[1]
        s = self._state
        assert s is not None
        target, kind = act.target_drug_id, act.intervention_type
        med = s.meds[slot]
        assert med is not None
        drug = self.catalog.drugs[med.drug_id]

        previous_risk = s.risk
        meds = list(s.meds)
        untreated: tuple[str, ...] = ()
        if kind == "stop":
            meds[slot] = None
            s.drug_changes += 1
            if drug.is_critical:
                s.critical_stopped += 1
            assert self._patient is not None
            others = (self.catalog.drugs[m.drug_id] for m in meds if m is not None)
            untreated = needed_for(drug, self._patient.conditions, others)
            if untreated:
                # Stopping the only treatment of a condition trades the drug's harms for the
                # untreated condition's, which the risk model has no term for; valuing them at
                # least as high, its contributions stay counted: no risk reduction, so no reward,
                # no "helpful" intervention and no severe hit. Keeping the drug's own terms (not a
                # new untreated-condition weight) changes no other risk, leaves baselines as they
                # were, and lets the graders and the planner, which replay this environment, agree
                # with the reward by construction. Substitution and dose reduction / monitoring
                # keep the therapy and are rewarded as before.
                s.stopped_needed = (*s.stopped_needed, med)
        elif kind == "dose_reduce":
            meds[slot] = med._replace(dose_mg=max(drug.min_dose_mg, med.dose_mg * 0.5), dose_reduced=True)
        elif kind == "substitute":
            assert new_drug_id is not None
            meds[slot] = Med(new_drug_id, self.catalog.drugs[new_drug_id].default_dose_mg)
            s.drug_changes += 1
        else:  # add_monitoring
            meds[slot] = med._replace(monitored=True)
        s.meds = tuple(meds)
        s.remaining_interventions -= 1
        s.risk = self._compute_risk(s.meds)
        delta = previous_risk - s.risk
        assert self._start is not None
        if delta > 0 and target in self._start.severe_drugs:
            s.severe_hit = True
        s.interventions = (*s.interventions, InterventionRecord(
            target_drug_id=med.drug_id,
            action_type=kind,
            proposed_new_drug_id=new_drug_id,
            rationale=act.rationale or "",
            step_index=s.step,
            risk_delta=delta,
            left_untreated=untreated,
        ))
        self._entries = self._medication_entries(s.meds)
        return rewards.intervention_reward(previous_risk, s.risk), None

    def _medication_entries(self, meds: tuple[Med | None, ...]) -> tuple[MedicationEntry, ...]:
        assert self._patient is not None and self._start is not None
        return medication_entries(self.catalog, meds, self._patient.conditions, self._start.entry_cache)

    def _safest_substitute(self, slot: int) -> str | None:
        """The same-class drug, not already taken, that leaves the lowest regimen risk
        (ties: not high-risk first, then by id, so the choice is deterministic)."""
        meds = self._live().meds
        med = meds[slot]
        assert med is not None
        in_regimen = {m.drug_id for m in meds if m is not None}
        best: tuple[float, bool, str] | None = None
        for candidate in self.catalog.same_class(med.drug_id):
            if candidate in in_regimen:
                continue
            trial = list(meds)
            trial[slot] = Med(candidate, self.catalog.drugs[candidate].default_dose_mg)
            key = (self._compute_risk(trial), self.catalog.drugs[candidate].is_high_risk_elderly, candidate)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def _compute_risk(self, meds: tuple[Med | None, ...] | list[Med | None]) -> float:
        assert self._start is not None and self._patient is not None
        present = [m for m in meds if m is not None]
        present.extend(self._live().stopped_needed)
        return regimen_risk(self.catalog, present, self._start.conditions, len(self._patient.medication_ids))

    def _finish(self) -> float:
        s = self._state
        assert s is not None
        s.terminated = True
        s.grader_score = self._grade()
        return s.grader_score

    def _grade(self) -> float:
        s = self._state
        assert s is not None
        inputs = GradeInputs(
            baseline_risk=s.baseline_risk,
            final_risk=s.risk,
            risk_deltas=[i.risk_delta for i in s.interventions],
            severe_hit=s.severe_hit,
            num_queries=len(s.queries),
            discoveries=s.discoveries,
            drug_changes=s.drug_changes,
            critical_stopped=s.critical_stopped,
        )
        return GRADERS[s.task_id](inputs)

    def _observe(self) -> Observation:
        s, patient = self._state, self._patient
        assert s is not None
        assert patient is not None
        last = s.last
        return Observation(
            episode_id=s.episode_id,
            task_id=s.task_id,  # type: ignore[arg-type]  # one of TASK_IDS, checked at reset
            patient_id=patient.patient_id,
            catalog=s.catalog,
            age=patient.age,
            sex=patient.sex,
            conditions=patient.conditions,
            eGFR_category=patient.eGFR_category,
            liver_function_category=patient.liver_function_category,
            current_medications=self._entries,
            interaction_queries=s.queries,
            interventions=s.interventions,
            step_index=s.step,
            max_steps=self._task.max_steps,
            remaining_query_budget=s.remaining_queries,
            remaining_intervention_budget=s.remaining_interventions,
            shaped_reward=0.0 if last.reset else rewards.clamp_reward(last.raw_reward),
            raw_reward=last.raw_reward,
            last_action_error=last.error,
            last_query_result=last.query,
            current_risk=s.risk,
            baseline_risk=s.baseline_risk,
            grader_score=s.grader_score,
            terminated=s.terminated,
            truncated=s.truncated,
        )

    # ── snapshot / restore ─────────────────────────────────────────────────
    def snapshot(self) -> dict[str, Any]:
        """The whole episode as a JSON-serialisable dict (floats round-trip exactly in JSON)."""
        if self._state is None:
            raise NoEpisodeError("No episode to snapshot: call reset() first.")
        data: dict[str, Any] = _STATE.dump_python(self._state, mode="json")
        return data

    def snapshot_json(self) -> bytes:
        """``snapshot()`` encoded as compact JSON, in one pass (what the step path stores)."""
        if self._state is None:
            raise NoEpisodeError("No episode to snapshot: call reset() first.")
        return _STATE.dump_json(self._state)

    def restore(self, snap: Mapping[str, Any], *, strict: bool = True) -> Observation:
        """Continue an episode from ``snapshot()`` output. With ``strict`` (the default) the
        catalog must be the one the snapshot was taken on (same content fingerprint)."""
        if not isinstance(snap, Mapping) or snap.get("version") != SNAPSHOT_VERSION:
            version = snap.get("version") if isinstance(snap, Mapping) else None
            raise SnapshotError(f"Unsupported snapshot version {version!r}.")
        try:
            state = _STATE.validate_python(snap)
        except PydanticValidationError as exc:
            raise SnapshotError(f"Corrupt snapshot: {exc.errors(include_url=False)[0]}") from None
        if state.catalog != self.catalog.name or (strict and state.catalog_fingerprint != self.catalog.fingerprint):
            raise SnapshotError("The snapshot was taken on another catalog (or another version of it).")
        task = TASKS.get(state.task_id)
        patient = self.catalog.patients.get(state.patient_id)
        if task is None or patient is None:
            raise SnapshotError(f"Corrupt snapshot: unknown task {state.task_id!r} or patient {state.patient_id!r}.")
        for med in state.meds:
            if med is not None and med.drug_id not in self.catalog.drugs:
                raise SnapshotError(f"The snapshot names a drug the catalog lacks: {med.drug_id}.")
        self._task, self._patient, self._start = task, patient, patient_start(self.catalog, patient)
        self._state = state
        self._entries = self._medication_entries(state.meds)
        self._obs = self._observe()
        return self._obs
