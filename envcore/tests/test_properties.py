"""Property-based tests: random action sequences on every task and both catalogs."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcore.contract import INTERVENTION_TYPES
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.scenarios import TASKS

CATALOGS = {name: Catalog.load(name) for name in ("classic", "curated")}

# One move is a few integers interpreted against the current regimen, so every sequence is
# meaningful whatever the patient: queries (also with a drug outside the regimen), interventions
# of every type (also naming a random substitute), and, rarely, finish.
moves = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 200), st.integers(0, 200), st.integers(0, 500)),
    min_size=0,
    max_size=40,
)


def to_action(move, obs, catalog):
    kind, i, j, k = move
    drugs = [m.drug_id for m in obs.current_medications] or ["DRUG_NONE"]
    a, b = drugs[i % len(drugs)], drugs[j % len(drugs)]
    if kind <= 3:
        return {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}
    if kind == 4:
        return {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": "DRUG_OUTSIDE"}
    if kind <= 7:
        return {
            "action_type": "propose_intervention",
            "target_drug_id": a,
            "intervention_type": INTERVENTION_TYPES[k % 4],
        }
    if kind == 8:
        all_ids = sorted(catalog.drugs)
        return {
            "action_type": "propose_intervention",
            "target_drug_id": a,
            "intervention_type": "substitute",
            "proposed_new_drug_id": all_ids[k % len(all_ids)],
        }
    return {"action_type": "finish_review"} if k % 5 == 0 else {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}


def play(env, catalog, actions_or_moves, *, seed, task, obs=None):
    """Run moves; return the list of observation dicts and the concrete actions taken."""
    if obs is None:
        obs = env.reset(seed=seed, task_id=task, episode_id="prop")
    trace, taken = [], []
    for move in actions_or_moves:
        if obs.done:
            break
        action = move if isinstance(move, dict) else to_action(move, obs, catalog)
        obs = env.step(action)
        trace.append(obs.to_dict())
        taken.append(action)
    return trace, taken, obs


common = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(st.sampled_from(sorted(CATALOGS)), st.sampled_from(sorted(TASKS)), st.integers(0, 10**6), moves)
def test_invariants_hold_on_any_action_sequence(catalog_name, task, seed, sequence):
    catalog = CATALOGS[catalog_name]
    env = PolypharmacyEnv(catalog)
    obs = env.reset(seed=seed, task_id=task, episode_id="prop")
    assert 0.0 <= obs.baseline_risk <= 1.0
    previous = obs
    for move in sequence:
        if previous.done:
            break
        obs = env.step(to_action(move, previous, catalog))
        assert obs.step_index == previous.step_index + 1
        assert obs.remaining_query_budget >= 0 and obs.remaining_intervention_budget >= 0
        assert 0.0 <= obs.current_risk <= 1.0
        assert 0.001 <= obs.shaped_reward <= 0.999
        assert (obs.grader_score is not None) == obs.done
        if obs.grader_score is not None:
            assert 0.001 <= obs.grader_score <= 0.999
        assert not (obs.terminated and obs.truncated)
        assert obs.step_index <= TASKS[task].max_steps
        json.dumps(obs.to_dict())
        previous = obs


@common
@given(
    st.sampled_from(sorted(CATALOGS)),
    st.sampled_from(sorted(TASKS)),
    st.integers(0, 10**6),
    moves,
    st.integers(0, 40),
)
def test_snapshot_restore_continue_equals_the_uninterrupted_run(catalog_name, task, seed, sequence, cut):
    catalog = CATALOGS[catalog_name]
    full, actions, _ = play(PolypharmacyEnv(catalog), catalog, sequence, seed=seed, task=task)
    cut = min(cut, len(actions))

    first = PolypharmacyEnv(catalog)
    head, _, _ = play(first, catalog, actions[:cut], seed=seed, task=task)
    snapshot = json.loads(json.dumps(first.snapshot()))  # through JSON, as the database stores it

    second = PolypharmacyEnv(catalog)
    resumed = second.restore(snapshot)
    if head:
        assert resumed.to_dict() == head[-1]
    tail, _, _ = play(second, catalog, actions[cut:], seed=seed, task=task, obs=resumed)
    assert head + tail == full


@common
@given(st.sampled_from(sorted(CATALOGS)), st.sampled_from(sorted(TASKS)), st.integers(0, 10**6), moves)
def test_same_seed_and_actions_give_identical_observations(catalog_name, task, seed, sequence):
    catalog = CATALOGS[catalog_name]
    one, actions, _ = play(PolypharmacyEnv(catalog), catalog, sequence, seed=seed, task=task)
    two, _, _ = play(PolypharmacyEnv(catalog), catalog, actions, seed=seed, task=task)
    assert one == two


def _risk_by_the_formula(catalog, meds, conditions, initial_count):
    # DESIGN §3.4 as written, every pair of the regimen visited (regimen_risk skips those
    # without a rule, which add 0.0): the two must agree to the bit.
    from envcore.catalog import pair_key
    from envcore.risk import MITIGATION_FACTOR, drug_risk_terms

    total = sum(drug_risk_terms(catalog, m, conditions) for m in meds)
    pairs = []
    for i, a in enumerate(meds):
        for b in meds[i + 1:]:
            rule = catalog.rules.get(pair_key(a.drug_id, b.drug_id))
            weight = 0.0 if rule is None else rule.base_risk_score
            if rule is not None and rule.recommendation == "dose_adjust" and (a.dose_reduced or b.dose_reduced):
                weight *= MITIGATION_FACTOR
            elif rule is not None and rule.recommendation == "monitor_closely" and (a.monitored or b.monitored):
                weight *= MITIGATION_FACTOR
            pairs.append(weight)
    total += sum(pairs)
    return min(max(total / max(initial_count, 1), 0.0), 1.0)


@common
@given(st.sampled_from(sorted(CATALOGS)), st.data())
def test_regimen_risk_equals_the_formula_over_every_pair(catalog_name, data):
    from envcore.regimen import Med
    from envcore.risk import regimen_risk

    catalog = CATALOGS[catalog_name]
    drugs = sorted(catalog.drugs)
    # Drugs that interact often enough to matter: half the regimen from the rules' drugs.
    ruled = sorted({d for key in catalog.rules for d in key})
    ids = data.draw(st.lists(st.sampled_from(ruled) | st.sampled_from(drugs), min_size=0, max_size=15))
    meds = [Med(d, catalog.drugs[d].default_dose_mg, data.draw(st.booleans()), data.draw(st.booleans())) for d in ids]
    conditions = frozenset(data.draw(st.lists(st.sampled_from(["HF", "AF", "CKD", "dementia", "falls", "CAD"]), max_size=3)))
    initial = data.draw(st.integers(1, 15))
    assert regimen_risk(catalog, meds, conditions, initial) == _risk_by_the_formula(catalog, meds, conditions, initial)
