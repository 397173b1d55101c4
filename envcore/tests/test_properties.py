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
