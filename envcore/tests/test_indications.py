"""Stopping a drug the patient needs for a condition, without a substitute, is not risk reduction
(issue 17; envcore/indications.py and the stop branch of PolypharmacyEnv._intervene)."""

import pytest

from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.indications import INDICATIONS, indications_for, needed_for, regimen_needs
from envcore.regimen import Med
from envcore.rewards import INTERVENTION_COST
from envcore.risk import regimen_risk
from envcore.tests.conftest import FINISH, intervene

HF_ON_BISOPROLOL_AND_ERYTHROMYCIN = "CUR_B_0078"  # heart failure; bisoprolol + erythromycin (torsades)
HF_AF_ON_WARFARIN = "CUR_E_0021"  # heart failure and AF; bisoprolol, warfarin + co-trimoxazole
HF_ON_LISINOPRIL_AND_VALSARTAN = "CUR_E_0022"  # heart failure; dual RAAS blockade


@pytest.fixture
def cur(curated: Catalog) -> PolypharmacyEnv:
    return PolypharmacyEnv(curated)


def plain_risk(env: PolypharmacyEnv) -> float:
    """The regimen's risk computed from the drugs still taken, as if no drug were needed."""
    meds = [Med(*state) for state in env.slot_states() if state is not None]
    patient = env.patient
    assert patient is not None
    return regimen_risk(env.catalog, meds, frozenset(patient.conditions), len(patient.medication_ids))


def entry(obs, drug_id):
    return next(m for m in obs.current_medications if m.drug_id == drug_id)


def test_the_observation_says_what_each_drug_is_needed_for(cur):
    obs = cur.reset(patient_id=HF_AF_ON_WARFARIN)
    assert entry(obs, "DRUG_BISOPROLOL").needed_for == ("HF", "AF")
    assert entry(obs, "DRUG_WARFARIN").needed_for == ("AF",)
    assert entry(obs, "DRUG_ALLOPURINOL").needed_for == ()
    assert obs.to_dict()["current_medications"][1]["needed_for"] == ["HF", "AF"]


def test_stopping_bisoprolol_in_heart_failure_earns_no_risk_reduction(cur):
    obs = cur.reset(patient_id=HF_ON_BISOPROLOL_AND_ERYTHROMYCIN)
    assert entry(obs, "DRUG_BISOPROLOL").needed_for == ("HF",)
    obs = cur.step(intervene("DRUG_BISOPROLOL", "stop"))
    assert "DRUG_BISOPROLOL" not in {m.drug_id for m in obs.current_medications}
    assert obs.current_risk == obs.baseline_risk > plain_risk(cur)
    assert obs.raw_reward == pytest.approx(-INTERVENTION_COST)
    record = obs.interventions[-1]
    assert record.risk_delta == 0.0 and record.left_untreated == ("HF",)
    assert cur.stopped_needed() == ("DRUG_BISOPROLOL",)
    assert cur.step(FINISH).grader_score == 0.001  # budgeted: no risk reduction, no helpful intervention


def test_stopping_warfarin_in_atrial_fibrillation_earns_no_risk_reduction(cur):
    cur.reset(patient_id=HF_AF_ON_WARFARIN)
    obs = cur.step(intervene("DRUG_WARFARIN", "stop"))
    assert obs.current_risk == obs.baseline_risk and obs.interventions[-1].left_untreated == ("AF",)
    assert cur.step(FINISH).grader_score == 0.001  # easy: no risk reduction and no severe hit


def test_stopping_the_partner_that_is_not_needed_is_rewarded_as_before(cur):
    obs = cur.reset(patient_id=HF_AF_ON_WARFARIN)
    obs = cur.step(intervene("DRUG_TRIMETHOPRIM_SULFAMETHOXAZOLE", "stop"))
    assert obs.current_risk == pytest.approx(plain_risk(cur)) and obs.current_risk < obs.baseline_risk
    assert obs.interventions[-1].left_untreated == () and cur.stopped_needed() == ()
    assert obs.raw_reward == pytest.approx(obs.baseline_risk - obs.current_risk - INTERVENTION_COST)


def test_a_stopped_needed_drug_keeps_its_interactions_until_the_partner_goes(cur, curated):
    obs = cur.reset(patient_id=HF_ON_BISOPROLOL_AND_ERYTHROMYCIN)
    n = len(obs.current_medications)
    cur.step(intervene("DRUG_BISOPROLOL", "stop"))
    obs = cur.step(intervene("DRUG_ERYTHROMYCIN", "stop"))
    pair = curated.rule("DRUG_BISOPROLOL", "DRUG_ERYTHROMYCIN").base_risk_score
    assert obs.interventions[-1].risk_delta >= pair / n - 1e-12  # the pair, at least, is gone


def test_substituting_a_needed_drug_is_rewarded_as_before(cur):
    obs = cur.reset(patient_id=HF_ON_BISOPROLOL_AND_ERYTHROMYCIN)
    obs = cur.step(intervene("DRUG_BISOPROLOL", "substitute", "DRUG_ATENOLOL"))
    assert obs.last_action_error is None and cur.stopped_needed() == ()
    assert obs.current_risk == pytest.approx(plain_risk(cur))
    assert entry(obs, "DRUG_ATENOLOL").needed_for == ("HF",)  # the class carries the therapy


def test_dose_reduction_and_monitoring_of_a_needed_drug_are_rewarded_as_before(cur):
    cur.reset(patient_id="CUR_E_0138")  # HF: lisinopril + spironolactone, a monitor_closely pair
    obs = cur.step(intervene("DRUG_SPIRONOLACTONE", "add_monitoring"))
    assert 0 < obs.interventions[-1].risk_delta and obs.current_risk == pytest.approx(plain_risk(cur))
    obs = cur.step(intervene("DRUG_LISINOPRIL", "dose_reduce"))
    assert obs.current_risk == pytest.approx(plain_risk(cur)) and cur.stopped_needed() == ()


def test_with_an_ace_inhibitor_and_an_arb_stopping_one_is_rewarded_and_the_other_is_then_needed(cur):
    obs = cur.reset(patient_id=HF_ON_LISINOPRIL_AND_VALSARTAN)
    assert entry(obs, "DRUG_LISINOPRIL").needed_for == entry(obs, "DRUG_VALSARTAN").needed_for == ()
    obs = cur.step(intervene("DRUG_VALSARTAN", "stop"))
    assert obs.interventions[-1].risk_delta > 0 and obs.interventions[-1].left_untreated == ()
    assert entry(obs, "DRUG_LISINOPRIL").needed_for == ("HF",)
    before = obs.current_risk
    obs = cur.step(intervene("DRUG_LISINOPRIL", "stop"))
    assert obs.current_risk == before and obs.interventions[-1].left_untreated == ("HF",)


def test_the_stopped_needed_drug_survives_a_snapshot_and_older_snapshots_restore(cur, curated):
    cur.reset(patient_id=HF_ON_BISOPROLOL_AND_ERYTHROMYCIN)
    obs = cur.step(intervene("DRUG_BISOPROLOL", "stop"))
    snap = cur.snapshot()
    twin = PolypharmacyEnv(curated)
    assert twin.restore(snap) == obs and twin.stopped_needed() == ("DRUG_BISOPROLOL",)
    cur.reset(patient_id=HF_ON_BISOPROLOL_AND_ERYTHROMYCIN)
    old = cur.step(intervene("DRUG_ERYTHROMYCIN", "stop"))
    snap = cur.snapshot()
    del snap["stopped_needed"]
    for record in snap["interventions"]:
        del record["left_untreated"]
    assert PolypharmacyEnv(curated).restore(snap) == old


def test_needed_for_looks_at_the_rest_of_the_regimen(curated):
    bisoprolol, metoprolol = curated.drugs["DRUG_BISOPROLOL"], curated.drugs["DRUG_METOPROLOL"]
    assert needed_for(bisoprolol, ("HF", "AF", "CKD")) == ("HF", "AF")
    assert needed_for(bisoprolol, ("HF",), [bisoprolol, metoprolol]) == ()
    assert needed_for(bisoprolol, ("CKD",)) == ()
    sotalol = curated.drugs["DRUG_SOTALOL"]  # a beta-blocker for AF, not for heart failure
    assert needed_for(sotalol, ("HF", "AF")) == ("AF",)
    assert regimen_needs([bisoprolol, curated.drugs["DRUG_WARFARIN"]], ("AF",)) == {
        "DRUG_BISOPROLOL": ("AF",), "DRUG_WARFARIN": ("AF",)}
    assert [i.therapy for i in indications_for(bisoprolol, ("AF", "HF"))] == ["beta-blocker", "beta-blocker"]


@pytest.mark.parametrize("name", ["classic", "curated"])
def test_the_table_reads_both_catalogs(name):
    catalog = Catalog.load(name)
    conditions = {c for p in catalog.patients.values() for c in p.conditions}
    treated = {i.condition for i in INDICATIONS if any(
        d.atc_class.startswith(i.atc_prefixes) for d in catalog.drugs.values())}
    for row in INDICATIONS:
        assert all(1 <= len(p) <= 5 for p in row.atc_prefixes) and row.reason, row
    if name == "curated":
        assert {i.condition for i in INDICATIONS} <= conditions
        assert treated == {i.condition for i in INDICATIONS}
    else:  # the reference's drugs: heart failure, AF and diabetes treatments among them
        assert {"HF", "AF", "DM"} <= treated


def test_the_contract_publishes_needed_for_and_left_untreated():
    from envcore.contract import observation_json_schema

    defs = observation_json_schema()["$defs"]
    assert "needed_for" in defs["MedicationEntry"]["required"]
    assert defs["MedicationEntry"]["properties"]["needed_for"]["items"] == {"type": "string"}
    assert "left_untreated" in defs["InterventionRecord"]["properties"]


@pytest.mark.parametrize("name", ["classic", "curated"])
def test_regimen_needs_agrees_with_needed_for_on_every_patient(name):
    catalog = Catalog.load(name)
    for patient in catalog.patients.values():
        drugs = [catalog.drugs[d] for d in patient.medication_ids]
        assert regimen_needs(drugs, patient.conditions) == {
            d.drug_id: needed_for(d, patient.conditions, drugs) for d in drugs}
