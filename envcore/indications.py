"""Drugs a patient needs for a condition, and why (DESIGN: the indications table, issue 17).

A drug is *needed for* a condition when the patient has the condition, the drug is of a class the
table below lists as treating it, and no other drug of the regimen is of that row's classes: it
is the patient's only treatment of that kind. Stopping it without a substitute leaves the
condition untreated, so the environment counts no risk reduction for it (``envcore.env``: the
stopped drug's risk contributions stay counted). A same-class substitute keeps the therapy, and a
dose reduction or monitoring keeps the drug, so those are rewarded as before.

The table is small on purpose: it lists the treatments whose removal on its own is a recognised
harm (loss of stroke prevention, decompensated heart failure, seizures, ...), for the conditions
the catalogs' patients have. Conditions where stopping one drug is usually an acceptable
deprescribing choice (hypertension with several agents, insomnia, reflux, pain, depression,
dementia) are deliberately absent. Classes are ATC prefixes of at most five characters, matched
against a drug's ``atc_class`` (level 4), so the table reads the classic catalog (whose drugs have
no level-5 code) and the curated one alike.

Not clinical advice: a simulator's model of "do not simply stop".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

from envcore.catalog import Drug


@dataclass(frozen=True, slots=True)
class Indication:
    condition: str  # a patient condition code ("HF", "AF", ...)
    therapy: str  # what the classes are, in words
    atc_prefixes: tuple[str, ...]  # any drug whose atc_class starts with one of these treats it
    reason: str  # why stopping it without a substitute harms


BETA_BLOCKERS_FOR_HF = ("C07AB", "C07AG")  # bisoprolol, metoprolol, carvedilol (not sotalol, propranolol)
ANTICOAGULANTS = ("B01AA", "B01AE", "B01AF")  # vitamin K antagonists, dabigatran, factor Xa inhibitors
ANTITHROMBOTICS = ("B01AC", *ANTICOAGULANTS)  # an anticoagulant also covers CAD and stroke

INDICATIONS: tuple[Indication, ...] = (
    Indication("HF", "beta-blocker", BETA_BLOCKERS_FOR_HF,
               "lowers mortality and admissions in heart failure with reduced ejection fraction; stopping it "
               "abruptly risks rebound tachycardia, ischaemia and decompensation"),
    Indication("HF", "ACE inhibitor or ARB", ("C09AA", "C09CA"),
               "renin-angiotensin blockade is disease-modifying therapy in heart failure with reduced ejection fraction"),
    Indication("HF", "mineralocorticoid receptor antagonist", ("C03DA",),
               "spironolactone lowers mortality in heart failure with reduced ejection fraction"),
    Indication("HF", "loop diuretic", ("C03CA",),
               "controls congestion; stopping it risks fluid overload and decompensation"),
    Indication("HF", "SGLT2 inhibitor", ("A10BK",),
               "dapagliflozin and empagliflozin lower heart-failure admissions and mortality"),
    Indication("AF", "anticoagulant", ANTICOAGULANTS,
               "prevents stroke and systemic embolism; nearly every patient over 65 with atrial fibrillation "
               "qualifies (CHA2DS2-VASc)"),
    Indication("AF", "beta-blocker", ("C07A",),
               "rate control; stopping it risks rapid atrial fibrillation and rebound"),
    Indication("CAD", "antithrombotic", ANTITHROMBOTICS,
               "secondary prevention of myocardial infarction and stent thrombosis (an anticoagulant alone "
               "suffices in stable disease)"),
    Indication("stroke", "antithrombotic", ANTITHROMBOTICS, "secondary prevention of ischaemic stroke"),
    Indication("DM", "insulin", ("A10A",),
               "an insulin-treated patient left without insulin risks hyperglycaemic crises"),
    Indication("epilepsy", "antiepileptic", ("N03A",),
               "stopping an antiepileptic risks breakthrough seizures and status epilepticus"),
    Indication("parkinson", "dopaminergic drug", ("N04B",),
               "abrupt withdrawal risks severe rigidity and a neuroleptic-malignant-like syndrome"),
    Indication("hypothyroidism", "thyroid hormone", ("H03AA",),
               "the patient's thyroid replacement: stopping it brings back hypothyroidism"),
    Indication("COPD", "inhaled bronchodilator", ("R03AC", "R03BB"),
               "maintenance and rescue bronchodilation; stopping the only one risks exacerbations"),
)
BY_CONDITION: Mapping[str, tuple[Indication, ...]] = {
    c: tuple(i for i in INDICATIONS if i.condition == c) for c in dict.fromkeys(i.condition for i in INDICATIONS)
}


@lru_cache(maxsize=4096)
def _rows_for_class(atc_class: str) -> tuple[int, ...]:
    """Indices into INDICATIONS of the rows whose classes include ``atc_class``."""
    return tuple(n for n, i in enumerate(INDICATIONS) if atc_class.startswith(i.atc_prefixes))


def indications_for(drug: Drug, conditions: Iterable[str]) -> tuple[Indication, ...]:
    """The rows by which ``drug`` treats one of the patient's ``conditions``."""
    conds = set(conditions)
    return tuple(INDICATIONS[n] for n in _rows_for_class(drug.atc_class) if INDICATIONS[n].condition in conds)


def needed_for(drug: Drug, conditions: Iterable[str], regimen: Iterable[Drug] = ()) -> tuple[str, ...]:
    """The conditions ``drug`` is needed for: it treats them (``indications_for``) and no other
    drug of ``regimen`` (the rest of the patient's current drugs; ``drug`` itself is ignored)
    is of the same row's classes. In table order, each condition once."""
    rows = indications_for(drug, conditions)
    if not rows:
        return ()
    others = [d.atc_class for d in regimen if d.drug_id != drug.drug_id]
    out: list[str] = []
    for row in rows:
        if row.condition not in out and not any(c.startswith(row.atc_prefixes) for c in others):
            out.append(row.condition)
    return tuple(out)


def regimen_needs(drugs: Iterable[Drug], conditions: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``needed_for`` of every drug of a regimen, by drug id. Runs after every intervention, so
    it is memoised on what it depends on: the drugs' classes and the conditions."""
    regimen = list(drugs)
    needs = _needs_by_class(tuple(d.atc_class for d in regimen), tuple(conditions))
    return {d.drug_id: need for d, need in zip(regimen, needs)}


@lru_cache(maxsize=65536)
def _needs_by_class(classes: tuple[str, ...], conditions: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """For each class of a regimen, the conditions it is needed for: a row's drug is needed when
    it is the row's only drug in the regimen."""
    rows_of = [[n for n in _rows_for_class(c) if INDICATIONS[n].condition in conditions] for c in classes]
    count: dict[int, int] = {}
    for rows in rows_of:
        for n in rows:
            count[n] = count.get(n, 0) + 1
    out = []
    for rows in rows_of:
        needed: list[str] = []
        for n in rows:
            condition = INDICATIONS[n].condition
            if count[n] == 1 and condition not in needed:
                needed.append(condition)
        out.append(tuple(needed))
    return tuple(out)
