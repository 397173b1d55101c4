"""What the review page tells a pharmacist, from the catalog: refusals and actions in plain words,
interaction panels with the stored facts, the pairs matrix, Beers criteria with their rationale,
kidney function, and which drugs a condition needs."""

from __future__ import annotations

import pytest

from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from reviews import clinical

CATALOG = Catalog.load("curated")


def refusal(env: PolypharmacyEnv, action: dict) -> str:
    found = env.refusal(action)
    assert found is not None, action
    return clinical.plain_message(env.catalog, found[1])


@pytest.fixture
def env() -> PolypharmacyEnv:
    env = PolypharmacyEnv(CATALOG)
    env.reset(patient_id="CUR_E_0001", task_id="easy_screening")  # amitriptyline, gabapentin, sotalol, verapamil
    return env


def test_every_refusal_reads_in_plain_words_with_drug_names(env):
    q = {"action_type": "query_ddi"}
    i = {"action_type": "propose_intervention"}
    cases = {
        "Choose two different drugs: a drug cannot be queried with itself.":
            {**q, "drug_id_1": "DRUG_SOTALOL", "drug_id_2": "DRUG_SOTALOL"},
        "Warfarin is not in the patient's current regimen (it was stopped or replaced, or never taken).":
            {**q, "drug_id_1": "DRUG_SOTALOL", "drug_id_2": "DRUG_WARFARIN"},
        "Propranolol (C07AA) is not in the same class as verapamil (C08DA): a substitute must be of the same class.":
            {**i, "target_drug_id": "DRUG_VERAPAMIL", "intervention_type": "substitute",
             "proposed_new_drug_id": "DRUG_PROPRANOLOL"},
        "Amitriptyline is already in the regimen.":
            {**i, "target_drug_id": "DRUG_SOTALOL", "intervention_type": "substitute",
             "proposed_new_drug_id": "DRUG_AMITRIPTYLINE"} if CATALOG.drugs["DRUG_AMITRIPTYLINE"].atc_class == CATALOG.drugs["DRUG_SOTALOL"].atc_class else None,
        "Choose a substitute other than the drug itself.":
            {**i, "target_drug_id": "DRUG_SOTALOL", "intervention_type": "substitute", "proposed_new_drug_id": "DRUG_SOTALOL"},
        "DRUG_NOPE is not a drug of this catalog.":
            {**i, "target_drug_id": "DRUG_SOTALOL", "intervention_type": "substitute", "proposed_new_drug_id": "DRUG_NOPE"},
    }
    for expected, action in cases.items():
        if action is not None:
            assert refusal(env, action) == expected
    env.step({"action_type": "propose_intervention", "target_drug_id": "DRUG_SOTALOL", "intervention_type": "add_monitoring"})
    assert refusal(env, {**i, "target_drug_id": "DRUG_SOTALOL", "intervention_type": "add_monitoring"}) == \
        "Sotalol is already monitored."
    for _ in range(4):
        env.step({**q, "drug_id_1": "DRUG_SOTALOL", "drug_id_2": "DRUG_VERAPAMIL"})
    assert refusal(env, {**q, "drug_id_1": "DRUG_SOTALOL", "drug_id_2": "DRUG_VERAPAMIL"}) == \
        "No queries left: this task's query budget is spent."


def test_a_message_it_does_not_know_keeps_its_words_with_names_for_ids():
    assert clinical.plain_message(CATALOG, "target_drug_id DRUG_SOTALOL is odd.") == "Sotalol is odd."


def test_actions_read_with_drug_names():
    text = clinical.action_text
    assert text(CATALOG, {"action_type": "query_ddi", "drug_id_1": "DRUG_SOTALOL", "drug_id_2": "DRUG_VERAPAMIL"}) == \
        "query sotalol + verapamil"
    assert text(CATALOG, {"action_type": "propose_intervention", "target_drug_id": "DRUG_SOTALOL",
                          "intervention_type": "substitute", "proposed_new_drug_id": "DRUG_PROPRANOLOL"}) == \
        "substitute sotalol → propranolol"
    assert text(CATALOG, {"action_type": "propose_intervention", "target_drug_id": "DRUG_SOTALOL",
                          "intervention_type": "dose_reduce"}) == "reduce the dose of sotalol"
    assert text(CATALOG, {"action_type": "finish_review"}) == "finish the review"


def test_a_severe_query_panel_carries_the_stored_mechanism_effect_management_source_and_confidence(env):
    env.step({"action_type": "query_ddi", "drug_id_1": "DRUG_VERAPAMIL", "drug_id_2": "DRUG_SOTALOL"})
    env.step({"action_type": "query_ddi", "drug_id_1": "DRUG_SOTALOL", "drug_id_2": "DRUG_VERAPAMIL"})
    newest, first = clinical.interaction_panels(CATALOG, env.observation.interaction_queries)
    rule = CATALOG.rule("DRUG_SOTALOL", "DRUG_VERAPAMIL")
    assert first.severity == "severe" and first.names == "verapamil + sotalol" and first.repeat_of is None
    assert first.mechanism + " — " + first.effect == rule.mechanism
    assert first.management.startswith("Avoid the combination") and first.source == rule.source
    assert first.confidence == rule.confidence
    assert newest.repeat_of == 1  # the same pair the other way round


def test_the_matrix_marks_the_pairs_asked_in_either_order(env):
    env.step({"action_type": "query_ddi", "drug_id_1": "DRUG_VERAPAMIL", "drug_id_2": "DRUG_SOTALOL"})
    matrix = clinical.pair_matrix(CATALOG, env.observation)
    assert (matrix.asked, matrix.total) == (1, 6)
    marked = [c for _, _, _, cells in matrix.rows for c in cells if c.severity]
    assert [(c.label, c.severity, c.short, c.step_index) for c in marked] == [("sotalol + verapamil", "severe", "S", 1)]
    assert clinical.asked_before(env.observation, "DRUG_SOTALOL", "DRUG_VERAPAMIL").step_index == 1
    assert clinical.asked_before(env.observation, "DRUG_SOTALOL", "DRUG_GABAPENTIN") is None


def test_beers_criteria_show_their_rationale_and_only_for_the_patients_conditions():
    notes = clinical.beers_notes(CATALOG, "DRUG_AMITRIPTYLINE", ())
    assert notes and notes[0].label == "avoid" and "anticholinergic" in notes[0].rationale.lower()
    conditional = next(b for b in CATALOG.beers if b.condition)
    labels = [n.label for n in clinical.beers_notes(CATALOG, conditional.drug_id, (conditional.condition,))]
    assert any(conditional.condition in label for label in labels)
    assert not any(conditional.condition in n.label for n in clinical.beers_notes(CATALOG, conditional.drug_id, ()))


def test_kidney_function_shows_the_egfr_range_of_its_category():
    assert clinical.kidney_text("moderate") == "moderate (eGFR 30–59 mL/min/1.73 m²)"
    assert clinical.kidney_text("severe") == "severe (eGFR < 30 mL/min/1.73 m²)"


def test_a_beta_blocker_is_marked_as_needed_for_heart_failure():
    # CUR_E_0021 has heart failure and atrial fibrillation; bisoprolol is their only beta-blocker
    # and warfarin the only anticoagulant (envcore.indications).
    env = PolypharmacyEnv(CATALOG)
    obs = env.reset(patient_id="CUR_E_0021", task_id="easy_screening")
    marks = {row.drug_id: row.indications for row in clinical.medication_rows(CATALOG, obs)}
    assert marks["DRUG_BISOPROLOL"] == ("HF", "AF")
    assert marks["DRUG_WARFARIN"] == ("AF",)
    assert sum(1 for m in marks.values() if m) == 2
