"""What the review page shows a pharmacist, read from the catalog and the observation: the
medication table's clinical columns (ATC class names, critical drugs, Beers criteria with their
rationale, indications), the interaction panels of the queries made, the matrix of pairs asked,
kidney function, and every action and refusal in plain words (drug names, not ids).

Pure reads of an ``envcore`` catalog and plain observations: no database, so the page and its
live fragments (``reviews.views``) render the same text from the same functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from envcore.catalog import Catalog, DDIRule, pair_key

SEVERITY_ORDER = ("severe", "moderate", "mild", "none")

# The management each recommendation stands for, and what the simulator credits for it
# (envcore.risk: a dose reduction halves a dose_adjust pair's risk, monitoring a monitor_closely
# pair's; only removing a drug clears an avoid_combination pair).
MANAGEMENT = {
    "avoid_combination": "Avoid the combination: stop one of the two drugs or substitute it with a drug of its class.",
    "dose_adjust": "Adjust the dose: reducing the dose of either drug halves this pair's risk.",
    "monitor_closely": "Monitor closely: adding monitoring of either drug halves this pair's risk.",
    "no_action": "No action needed.",
}
INTERVENTION_WORDS = {
    "stop": "stop", "dose_reduce": "reduce the dose of", "substitute": "substitute", "add_monitoring": "add monitoring of",
}
BEERS_WORDS = {"avoid": "avoid", "caution": "use with caution", "dose_adjust": "adjust the dose",
               "avoid_in_condition": "avoid in"}
# The categories the catalog stores stand for these ranges (KDIGO GFR stages G1, G2, G3, G4–G5);
# no measured value is stored for any patient.
EGFR_RANGES = {"normal": "≥ 90", "mild": "60–89", "moderate": "30–59", "severe": "< 30"}


def drug_name(catalog: Catalog, drug_id: str | None) -> str:
    """The drug's generic name, or the id as given when the catalog has no such drug."""
    drug = catalog.drugs.get(drug_id or "")
    return drug.generic_name if drug is not None else str(drug_id)


def kidney_text(category: str) -> str:
    egfr = EGFR_RANGES.get(category)
    return f"{category} (eGFR {egfr} mL/min/1.73 m²)" if egfr else category


# ── indications (the clinical branch's; wired in after its merge) ──────────
# ── the medication table ───────────────────────────────────────────────────
@dataclass(frozen=True)
class BeersNote:
    label: str  # "avoid", "avoid in CKD"
    rationale: str
    source: str


@dataclass(frozen=True)
class MedicationRow:
    drug_id: str
    name: str
    atc_class: str
    atc_class_name: str
    dose_mg: float
    frequency: str
    route: str
    high_risk: bool
    critical: bool
    monitored: bool
    anticholinergic_score: int
    beers: tuple[BeersNote, ...]
    indications: tuple[str, ...]


def beers_notes(catalog: Catalog, drug_id: str, conditions: Iterable[str]) -> tuple[BeersNote, ...]:
    """The Beers criteria that apply to this drug for this patient, with their stored rationale."""
    conds = set(conditions)
    notes = []
    for crit in catalog.beers_by_drug.get(drug_id, ()):
        if crit.condition is not None and crit.condition not in conds:
            continue
        label = BEERS_WORDS.get(crit.criterion_type, crit.criterion_type)
        if crit.condition:
            label = f"{label} {crit.condition}" if crit.criterion_type == "avoid_in_condition" else f"{label} in {crit.condition}"
        notes.append(BeersNote(label, crit.rationale, crit.source))
    return tuple(notes)


def medication_rows(catalog: Catalog, observation: Any) -> list[MedicationRow]:
    rows = []
    for m in observation.current_medications:
        drug = catalog.drugs.get(m.drug_id)
        rows.append(MedicationRow(
            drug_id=m.drug_id, name=m.generic_name, atc_class=m.atc_class,
            atc_class_name=drug.atc_class_name if drug else "", dose_mg=m.dose_mg, frequency=m.frequency,
            route=m.route, high_risk=m.is_high_risk_elderly, critical=m.is_critical, monitored=m.monitored,
            anticholinergic_score=m.anticholinergic_score,
            beers=beers_notes(catalog, m.drug_id, observation.conditions),
            indications=m.needed_for,  # envcore.indications: the only drug of a therapy a condition needs
        ))
    return rows


# ── interactions asked ─────────────────────────────────────────────────────
def mechanism_and_effect(rule: DDIRule | None) -> tuple[str, str]:
    """The stored mechanism text split into mechanism and clinical effect: the curated catalog
    stores them as "mechanism — effect" (fixtures/curated.py); the classic one as one phrase."""
    if rule is None or not rule.mechanism:
        return "", ""
    mechanism, dash, effect = rule.mechanism.partition(" — ")
    return (mechanism.strip(), effect.strip()) if dash else (rule.mechanism.strip(), "")


@dataclass(frozen=True)
class InteractionPanel:
    step_index: int
    drug_id_1: str
    drug_id_2: str
    names: str  # "sotalol + verapamil"
    severity: str
    recommendation: str
    management: str
    mechanism: str
    effect: str
    source: str
    confidence: str
    risk_score: float
    repeat_of: int | None  # the step that first asked this pair, when this query repeated it


def interaction_panel(catalog: Catalog, query: Mapping[str, Any] | Any, repeat_of: int | None = None) -> InteractionPanel:
    q = query if isinstance(query, Mapping) else query.to_dict()
    a, b = q["drug_id_1"], q["drug_id_2"]
    rule = catalog.rule(a, b)
    mechanism, effect = mechanism_and_effect(rule)
    return InteractionPanel(
        step_index=q["step_index"], drug_id_1=a, drug_id_2=b,
        names=f"{drug_name(catalog, a)} + {drug_name(catalog, b)}", severity=q["severity"],
        recommendation=q["recommendation"],
        management=MANAGEMENT.get(q["recommendation"], q["recommendation"].replace("_", " ")),
        mechanism=mechanism if rule else "No interaction is recorded in the catalog for this pair.", effect=effect,
        source=rule.source if rule else "", confidence=rule.confidence if rule else "", risk_score=q["risk_score"],
        repeat_of=repeat_of,
    )


def interaction_panels(catalog: Catalog, queries: Iterable[Any]) -> list[InteractionPanel]:
    """One panel per query, newest first; a query of a pair asked before (in either order) says so."""
    first: dict[tuple[str, str], int] = {}
    panels = []
    for q in queries:
        d = q if isinstance(q, Mapping) else q.to_dict()
        key = pair_key(d["drug_id_1"], d["drug_id_2"])
        panels.append(interaction_panel(catalog, d, repeat_of=first.get(key)))
        first.setdefault(key, d["step_index"])
    return panels[::-1]


@dataclass(frozen=True)
class MatrixCell:
    a: str
    b: str
    label: str  # "sotalol + verapamil"
    severity: str = ""  # "" when not asked
    step_index: int | None = None

    @property
    def short(self) -> str:
        """One letter, so the severity is not told by colour alone."""
        return {"severe": "S", "moderate": "M", "mild": "m", "none": "0"}.get(self.severity, "")


@dataclass(frozen=True)
class PairMatrix:
    drugs: list[tuple[str, str]]  # (drug_id, name) of the current regimen, in its order
    rows: list[tuple[int, str, str, list[MatrixCell]]] = field(default_factory=list)  # (number, id, name, cells below the diagonal)
    asked: int = 0
    total: int = 0


def pair_matrix(catalog: Catalog, observation: Any) -> PairMatrix:
    """The regimen's pairs as a triangle: each asked pair holds the severity of its latest query."""
    drugs = [(m.drug_id, m.generic_name) for m in observation.current_medications]
    latest: dict[tuple[str, str], Any] = {}
    for q in observation.interaction_queries:
        latest[pair_key(q.drug_id_1, q.drug_id_2)] = q
    rows, asked = [], 0
    for i, (drug_id, name) in enumerate(drugs):
        cells = []
        for other_id, other_name in drugs[:i]:
            q = latest.get(pair_key(drug_id, other_id))
            asked += q is not None
            cells.append(MatrixCell(other_id, drug_id, f"{other_name} + {name}", q.severity if q else "",
                                    q.step_index if q else None))
        rows.append((i + 1, drug_id, name, cells))
    n = len(drugs)
    return PairMatrix(drugs, rows, asked, n * (n - 1) // 2)


def asked_before(observation: Any, drug_a: str, drug_b: str) -> Any | None:
    """The first query of this pair (in either order) in the episode, or None."""
    key = pair_key(drug_a, drug_b)
    return next((q for q in observation.interaction_queries if pair_key(q.drug_id_1, q.drug_id_2) == key), None)


# ── plain words ────────────────────────────────────────────────────────────
def action_text(catalog: Catalog, action: Mapping[str, Any]) -> str:
    """An action as a pharmacist would say it: "query sotalol + verapamil", "substitute
    sotalol → propranolol", "finish the review"."""
    kind = action.get("action_type")
    if kind == "query_ddi":
        return f"query {drug_name(catalog, action.get('drug_id_1'))} + {drug_name(catalog, action.get('drug_id_2'))}"
    if kind == "propose_intervention":
        how = action.get("intervention_type", "")
        text = f"{INTERVENTION_WORDS.get(how, how)} {drug_name(catalog, action.get('target_drug_id'))}"
        if action.get("proposed_new_drug_id"):
            text += f" → {drug_name(catalog, action['proposed_new_drug_id'])}"
        elif how == "substitute":
            text += " (the safest drug of its class)"
        return text
    return "finish the review"


_ID = re.compile(r"'?\b(DRUG_[A-Z0-9_]+)\b'?")


def _names(catalog: Catalog, text: str) -> str:
    return _ID.sub(lambda m: drug_name(catalog, m.group(1)), text)


# The environment's refusals (envcore.env), which the API returns as they are, in the page's
# words. The audit trail keeps the environment's own message.
_PLAIN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"query_ddi needs two different drugs.*"), "Choose two different drugs: a drug cannot be queried with itself."),
    (re.compile(r"(?:drug_id_[12]|target_drug_id) '?(?P<d>[^' ]+)'? is not in the current regimen\."),
     "{d} is not in the patient's current regimen (it was stopped or replaced, or never taken)."),
    (re.compile(r"Query budget exhausted\."), "No queries left: this task's query budget is spent."),
    (re.compile(r"Intervention budget exhausted\."), "No interventions left: this task's intervention budget is spent."),
    (re.compile(r"(?P<d>\S+) is already at its minimum dose \((?P<mg>[^)]*)\)\."), "{d} is already at its minimum dose ({mg})."),
    (re.compile(r"(?P<d>\S+) is already monitored\."), "{d} is already monitored."),
    (re.compile(r"No substitute of the same class \((?P<c>\w+)\) is available for (?P<d>\S+)\."),
     "No other drug of {d}'s class ({c}) is available to substitute it."),
    (re.compile(r"proposed_new_drug_id '?(?P<d>[^' ]+)'? is not a known drug\."), "{d} is not a drug of this catalog."),
    (re.compile(r"proposed_new_drug_id must differ from target_drug_id\."), "Choose a substitute other than the drug itself."),
    (re.compile(r"proposed_new_drug_id (?P<n>\S+) \(class (?P<nc>\w+)\) is not in the same therapeutic class as "
                r"(?P<d>\S+) \((?P<dc>\w+)\)\."),
     "{n} ({nc}) is not in the same class as {d} ({dc}): a substitute must be of the same class."),
    (re.compile(r"proposed_new_drug_id (?P<d>\S+) is already in the regimen\."), "{d} is already in the regimen."),
]


def plain_message(catalog: Catalog, message: str) -> str:
    """An environment refusal in plain words, drug ids replaced by names; a message it does
    not know keeps its words, with names for ids and without field names."""
    for pattern, template in _PLAIN:
        match = pattern.fullmatch(message.strip())
        if match:
            text = template.format(**{k: drug_name(catalog, v) for k, v in match.groupdict().items()})
            break
    else:
        text = _names(catalog, message)
        text = re.sub(r"\b(drug_id_[12]|target_drug_id|proposed_new_drug_id)\b ?", "", text).strip()
    return text[:1].upper() + text[1:]


def repeat_message(catalog: Catalog, first: Any) -> str:
    return (f"{drug_name(catalog, first.drug_id_1)} + {drug_name(catalog, first.drug_id_2)} was already asked at "
            f"step {first.step_index} ({first.severity}): asking again spends a query and earns nothing. "
            "Tick “Ask again anyway” to spend one.")
