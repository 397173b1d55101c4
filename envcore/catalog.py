"""The catalog: drugs, interaction rules, Beers criteria and patients, as immutable plain data.

A catalog is built either from the files under ``envcore/catalogs/<name>/`` (``Catalog.load``)
or from plain records (``Catalog.from_records``), which is how the Django side builds one from
the database. Both paths go through ``from_records`` so they cannot drift; ``to_records`` gives
the records back in a canonical order, and ``fingerprint`` hashes them, so two catalogs built
from the same data compare equal whatever their origin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping

from envcore.errors import CatalogError

# The shipped catalogs are data files of this package (pyproject's package-data), so
# ``Catalog.load`` works from an installed wheel as from a checkout. fixtures.build writes them.
CATALOGS_DIR = Path(__file__).resolve().parent / "catalogs"
CATALOG_NAMES = ("classic", "curated")
DEFAULT_CATALOG = "curated"

SEVERITIES = ("severe", "moderate", "mild")
RECOMMENDATIONS = ("avoid_combination", "dose_adjust", "monitor_closely", "no_action")
BEERS_TYPES = ("avoid", "caution", "dose_adjust", "avoid_in_condition")
SEXES = ("F", "M")
ORGAN_FUNCTION = {
    "eGFR_category": ("normal", "mild", "moderate", "severe"),
    "liver_function_category": ("normal", "impaired", "severe"),
}
TASK_IDS = ("easy_screening", "budgeted_screening", "complex_tradeoff")


@dataclass(frozen=True, slots=True)
class Drug:
    drug_id: str
    generic_name: str
    atc_class: str  # ATC level 4 (5 characters, e.g. "B01AA"): the substitution class
    atc_code: str = ""  # full ATC level 5 code where known
    atc_class_name: str = ""
    is_high_risk_elderly: bool = False
    is_critical: bool = False  # must not be stopped without a substitute (complex_tradeoff grader)
    default_dose_mg: float = 1.0
    min_dose_mg: float = 0.5
    max_dose_mg: float = 1.0
    frequency: str = "daily"
    route: str = "oral"
    anticholinergic_score: int = 0
    source: str = ""
    confidence: str = ""


@dataclass(frozen=True, slots=True)
class DDIRule:
    drug_id_1: str  # canonical order: drug_id_1 < drug_id_2
    drug_id_2: str
    severity: str
    recommendation: str
    base_risk_score: float
    mechanism: str = ""
    source: str = ""
    confidence: str = ""


@dataclass(frozen=True, slots=True)
class BeersCriterion:
    drug_id: str
    criterion_type: str
    condition: str | None = None  # None: applies whatever the patient's conditions
    rationale: str = ""
    source: str = ""
    confidence: str = ""


@dataclass(frozen=True, slots=True)
class Patient:
    patient_id: str
    task_id: str
    age: int
    sex: str
    conditions: tuple[str, ...]
    eGFR_category: str
    liver_function_category: str
    medication_ids: tuple[str, ...]


def pair_key(drug_a: str, drug_b: str) -> tuple[str, str]:
    """The canonical (sorted) key of an unordered drug pair."""
    return (drug_a, drug_b) if drug_a < drug_b else (drug_b, drug_a)


def _build(cls: type, record: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(record) - names
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}")
    try:
        return cls(**record)
    except TypeError as exc:
        raise CatalogError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class Catalog:
    """An immutable, validated catalog. Build with ``from_records`` or ``load``."""

    name: str
    drugs: Mapping[str, Drug]
    rules: Mapping[tuple[str, str], DDIRule]
    beers: tuple[BeersCriterion, ...]
    patients: Mapping[str, Patient]  # insertion order is the file order: seeds index into it
    _by_class: Mapping[str, tuple[str, ...]] = field(repr=False, compare=False, default_factory=dict)

    # ── construction ────────────────────────────────────────────────────────
    @classmethod
    def from_records(
        cls,
        name: str,
        *,
        drugs: Iterable[Mapping[str, Any]],
        ddi_rules: Iterable[Mapping[str, Any]],
        beers_criteria: Iterable[Mapping[str, Any]],
        patients: Iterable[Mapping[str, Any]],
    ) -> "Catalog":
        """Validate plain records and build a catalog. Raises ``CatalogError`` naming the row."""
        drug_map = _read_drugs(drugs)
        return cls(
            name=name,
            drugs=drug_map,
            rules=_read_rules(ddi_rules, drug_map),
            beers=_read_beers(beers_criteria, drug_map),
            patients=_read_patients(patients, drug_map),
            _by_class=_classes(drug_map),
        )

    @classmethod
    def from_fixture_dir(cls, path: Path | str, name: str | None = None) -> "Catalog":
        """Read ``drugs.json``, ``ddi_rules.json``, ``beers_criteria.json``, ``patients.json``."""
        path = Path(path)
        if not path.is_dir():
            raise CatalogError(f"catalog directory {path} does not exist")
        records = {
            key: json.loads((path / f"{key}.json").read_text(encoding="utf-8"))
            for key in ("drugs", "ddi_rules", "beers_criteria", "patients")
        }
        return cls.from_records(name or path.name, **records)

    @classmethod
    def load(cls, name: str = DEFAULT_CATALOG) -> "Catalog":
        """The shipped catalog ``name`` (classic or curated), read once per process."""
        if name not in CATALOG_NAMES:
            raise CatalogError(f"catalog must be one of {CATALOG_NAMES}, got {name!r}")
        return _load_cached(name)

    # ── records and identity ───────────────────────────────────────────────
    def to_records(self) -> dict[str, list[dict[str, Any]]]:
        """Plain records in canonical order (drugs and rules sorted, patients in file order)."""

        def plain(obj: Any) -> dict[str, Any]:
            rec = asdict(obj)
            for key, value in rec.items():
                if isinstance(value, tuple):
                    rec[key] = list(value)
            return rec

        return {
            "drugs": [plain(self.drugs[k]) for k in sorted(self.drugs)],
            "ddi_rules": [plain(self.rules[k]) for k in sorted(self.rules)],
            "beers_criteria": sorted(
                (plain(b) for b in self.beers),
                key=lambda r: (r["drug_id"], r["criterion_type"], r["condition"] or ""),
            ),
            "patients": [plain(p) for p in self.patients.values()],
        }

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the catalog's content; snapshots carry it so they restore on the same data."""
        blob = json.dumps(self.to_records(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        # Content equality through the cached hash: cheap enough for dict keys and caches.
        if not isinstance(other, Catalog):
            return NotImplemented
        return self is other or (self.name == other.name and self.fingerprint == other.fingerprint)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    # ── look-ups ───────────────────────────────────────────────────────────
    def rule(self, drug_a: str, drug_b: str) -> DDIRule | None:
        return self.rules.get(pair_key(drug_a, drug_b))

    def same_class(self, drug_id: str) -> tuple[str, ...]:
        """Other drugs of ``drug_id``'s ATC level-4 class, sorted by id."""
        return self._same_class.get(drug_id, ())

    @cached_property
    def _same_class(self) -> Mapping[str, tuple[str, ...]]:
        # Built once: the adapter's encoding and the planner ask for it at every step.
        return {drug_id: tuple(d for d in self._by_class.get(drug.atc_class, ()) if d != drug_id)
                for drug_id, drug in self.drugs.items()}

    @cached_property
    def beers_by_drug(self) -> Mapping[str, tuple[BeersCriterion, ...]]:
        out: dict[str, list[BeersCriterion]] = {}
        for crit in self.beers:
            out.setdefault(crit.drug_id, []).append(crit)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def interactions(self) -> Mapping[str, Mapping[str, DDIRule]]:
        """drug id → {the other drug of each of its rules → the rule}: the risk sums over a
        regimen's pairs at every intervention, and this finds a pair's rule without building its key."""
        out: dict[str, dict[str, DDIRule]] = {}
        for rule in self.rules.values():
            out.setdefault(rule.drug_id_1, {})[rule.drug_id_2] = rule
            out.setdefault(rule.drug_id_2, {})[rule.drug_id_1] = rule
        return out

    def pool(self, task_id: str) -> tuple[str, ...]:
        """Patient ids of a task, in file order (a seed indexes into this)."""
        return self._pools.get(task_id, ())

    @cached_property
    def _pools(self) -> Mapping[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {t: [] for t in TASK_IDS}
        for patient in self.patients.values():
            out[patient.task_id].append(patient.patient_id)
        return {k: tuple(v) for k, v in out.items()}


# ── validating readers, one per record kind (``Catalog.from_records``) ───────
def _read_drugs(records: Iterable[Mapping[str, Any]]) -> dict[str, Drug]:
    drug_map: dict[str, Drug] = {}
    for i, rec in enumerate(records):
        rec = dict(rec)
        for key in ("default_dose_mg", "min_dose_mg", "max_dose_mg"):
            if key in rec:
                rec[key] = float(rec[key])
        drug = _build(Drug, rec, f"drug #{i}")
        if drug.drug_id in drug_map:
            raise CatalogError(f"drug {drug.drug_id}: duplicate drug_id")
        if len(drug.atc_class) != 5:
            raise CatalogError(f"drug {drug.drug_id}: atc_class must be an ATC level-4 code, got {drug.atc_class!r}")
        if not drug.min_dose_mg <= drug.default_dose_mg:
            raise CatalogError(f"drug {drug.drug_id}: min_dose_mg must not exceed default_dose_mg")
        drug_map[drug.drug_id] = drug
    return drug_map


def _read_rules(records: Iterable[Mapping[str, Any]], drugs: Mapping[str, Drug]) -> dict[tuple[str, str], DDIRule]:
    """Rules keyed by their canonical pair; a rule given in the other order is stored sorted."""
    rule_map: dict[tuple[str, str], DDIRule] = {}
    for i, rec in enumerate(records):
        rec = dict(rec)
        rec["base_risk_score"] = float(rec.get("base_risk_score", 0.0))
        rule = _build(DDIRule, rec, f"ddi rule #{i}")
        where = f"ddi rule {rule.drug_id_1}+{rule.drug_id_2}"
        if rule.drug_id_1 == rule.drug_id_2:
            raise CatalogError(f"{where}: drug_id_2 must differ from drug_id_1")
        for key in (rule.drug_id_1, rule.drug_id_2):
            if key not in drugs:
                raise CatalogError(f"{where}: unknown drug {key}")
        if rule.severity not in SEVERITIES:
            raise CatalogError(f"{where}: severity must be one of {SEVERITIES}")
        if rule.recommendation not in RECOMMENDATIONS:
            raise CatalogError(f"{where}: recommendation must be one of {RECOMMENDATIONS}")
        if not 0.0 <= rule.base_risk_score <= 1.0:
            raise CatalogError(f"{where}: base_risk_score must be in [0, 1]")
        pair = pair_key(rule.drug_id_1, rule.drug_id_2)
        if pair != (rule.drug_id_1, rule.drug_id_2):
            rule = DDIRule(**{**asdict(rule), "drug_id_1": pair[0], "drug_id_2": pair[1]})
        if pair in rule_map:
            raise CatalogError(f"{where}: duplicate pair")
        rule_map[pair] = rule
    return rule_map


def _read_beers(records: Iterable[Mapping[str, Any]], drugs: Mapping[str, Drug]) -> tuple[BeersCriterion, ...]:
    beers_list = []
    for i, rec in enumerate(records):
        rec = dict(rec)
        rec["condition"] = rec.get("condition") or None
        crit = _build(BeersCriterion, rec, f"beers criterion #{i}")
        if crit.drug_id not in drugs:
            raise CatalogError(f"beers criterion #{i}: unknown drug {crit.drug_id}")
        if crit.criterion_type not in BEERS_TYPES:
            raise CatalogError(f"beers criterion #{i}: criterion_type must be one of {BEERS_TYPES}")
        beers_list.append(crit)
    return tuple(beers_list)


def _read_patients(records: Iterable[Mapping[str, Any]], drugs: Mapping[str, Drug]) -> dict[str, Patient]:
    """Patients in record order (seeds index into each task's pool in this order)."""
    patient_map: dict[str, Patient] = {}
    for i, rec in enumerate(records):
        rec = dict(rec)
        rec["conditions"] = tuple(rec.get("conditions", ()))
        rec["medication_ids"] = tuple(rec.get("medication_ids", ()))
        rec["age"] = int(rec["age"]) if "age" in rec else 0
        patient = _build(Patient, rec, f"patient #{i}")
        where = f"patient {patient.patient_id}"
        if patient.patient_id in patient_map:
            raise CatalogError(f"{where}: duplicate patient_id")
        if patient.task_id not in TASK_IDS:
            raise CatalogError(f"{where}: task_id must be one of {TASK_IDS}")
        if patient.sex not in SEXES:
            raise CatalogError(f"{where}: sex must be one of {SEXES}")
        for attr, allowed in ORGAN_FUNCTION.items():
            if getattr(patient, attr) not in allowed:
                raise CatalogError(f"{where}: {attr} must be one of {allowed}")
        missing = [d for d in patient.medication_ids if d not in drugs]
        if missing:
            raise CatalogError(f"{where}: unknown drug(s) {missing}")
        if len(set(patient.medication_ids)) != len(patient.medication_ids):
            raise CatalogError(f"{where}: a drug appears twice in medication_ids")
        patient_map[patient.patient_id] = patient
    return patient_map


def _classes(drugs: Mapping[str, Drug]) -> dict[str, tuple[str, ...]]:
    """ATC level-4 class -> its drug ids, sorted (``Catalog.same_class``)."""
    by_class: dict[str, list[str]] = {}
    for drug in sorted(drugs.values(), key=lambda d: d.drug_id):
        by_class.setdefault(drug.atc_class, []).append(drug.drug_id)
    return {k: tuple(v) for k, v in by_class.items()}


_CACHE: dict[str, Catalog] = {}


def _load_cached(name: str) -> Catalog:
    if name not in _CACHE:
        _CACHE[name] = Catalog.from_fixture_dir(CATALOGS_DIR / name, name)
    return _CACHE[name]
