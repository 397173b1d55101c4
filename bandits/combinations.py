"""Combinations as a researcher writes them, turned into the drug ids a model scores (no Django).

The job form takes one combination per line, its drugs separated by "+" or ","; the API takes
JSON lists. Either way a drug may be given by its id (``DRUG_ASPIRIN``) or by its generic name
(``aspirin``), case-insensitively, and is resolved against the drugs the model was trained on (a
catalog model knows its catalog's names; a synthetic one only its ids, ``D000``…). What a job
stores is the resolved ids, so the job row says exactly what was scored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

SEPARATORS = re.compile(r"[+,]")
PROBLEMS_NAMED = 5  # in one form message; the rest are counted


@dataclass(frozen=True)
class Written:
    """Combinations as given: ``items[i]`` came from line ``lines[i]`` of a text (1-based), or
    from position i of a JSON list when ``lines`` is None."""

    items: list[Any]
    lines: list[int] | None = None

    def where(self, i: int) -> str:
        return f"line {self.lines[i]}" if self.lines is not None else f"combination {i}"


def parse_lines(text: str) -> Written:
    """One combination per non-blank line; drugs split on "+" or "," (blanks between dropped)."""
    items, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        drugs = [" ".join(part.split()) for part in SEPARATORS.split(line)]
        drugs = [d for d in drugs if d]
        if drugs:
            items.append(drugs)
            lines.append(number)
    return Written(items, lines)


class DrugLookup:
    """Drug ids and names of one model, case-insensitive."""

    def __init__(self, drug_ids: Sequence[str], drug_names: Sequence[str] = (), where: str = "") -> None:
        self.drug_ids = list(drug_ids)
        self.drug_names = list(drug_names)
        self.where = where
        self._by_key: dict[str, str] = {}
        self._ambiguous: set[str] = set()
        for drug in self.drug_ids:
            self._by_key[drug.casefold()] = drug
        ids = set(self._by_key)
        for drug, name in zip(self.drug_ids, self.drug_names):
            key = " ".join(name.split()).casefold()
            # An id always wins over a name; two drugs of one name are named by id only.
            if key in ids or not key:
                continue
            if key in self._by_key and self._by_key[key] != drug:
                self._ambiguous.add(key)
            self._by_key.setdefault(key, drug)

    @classmethod
    def of(cls, scorer: Any) -> "DrugLookup":
        """The drugs of a loaded model (``bandits.screening.BanditScorer``)."""
        catalog = scorer.dataset.get("catalog")
        return cls(scorer.drug_ids, scorer.drug_names, f"catalog {catalog!r}" if catalog else "its synthetic dataset")

    def resolve(self, written: str) -> str | None:
        key = " ".join(written.split()).casefold()
        return None if key in self._ambiguous else self._by_key.get(key)

    def hint(self) -> str:
        """What the model does know, for a message about unknown drugs."""
        examples = self.drug_names[:2] + self.drug_ids[:1] if self.drug_names else self.drug_ids[:3]
        by = "id or name" if self.drug_names else "id"
        return f"the model knows the {len(self.drug_ids)} drugs of {self.where}, by {by}, e.g. {', '.join(examples)}"


def unknown_message(unknown: Sequence[str]) -> str:
    quoted = ", ".join(repr(u) for u in dict.fromkeys(unknown))
    return ("unknown drugs " if len(set(unknown)) > 1 else "unknown drug ") + quoted


@dataclass(frozen=True)
class Problem:
    index: int  # position in ``Written.items``
    message: str
    unknown: bool = False  # about unknown drugs: worth the lookup's hint


def resolve_combinations(written: Written, lookup: DrugLookup) -> tuple[list[list[str]], list[Problem]]:
    """(each combination as drug ids, in order; the problems of those that are not). A drug
    given twice in one combination is kept once."""
    resolved: list[list[str]] = []
    problems: list[Problem] = []
    for i, combo in enumerate(written.items):
        if not isinstance(combo, list):
            problems.append(Problem(i, "a combination must be a list of drug ids or names"))
            continue
        if not combo:
            problems.append(Problem(i, "a combination must name at least one drug"))
            continue
        if not all(isinstance(d, str) for d in combo):
            problems.append(Problem(i, "drugs must be given as strings (ids or names)"))
            continue
        ids = [lookup.resolve(d) for d in combo]
        unknown = [d for d, found in zip(combo, ids) if found is None]
        if unknown:
            problems.append(Problem(i, unknown_message(unknown), unknown=True))
            continue
        resolved.append(list(dict.fromkeys(d for d in ids if d is not None)))
    return resolved, problems


def lines_message(written: Written, problems: list[Problem], lookup: DrugLookup) -> str:
    """The form's one message for every bad line: "line 2: unknown drug 'Foo'; line 5: … (the
    model knows …)"."""
    named = [f"{written.where(p.index)}: {p.message}" for p in problems[:PROBLEMS_NAMED]]
    more = len(problems) - PROBLEMS_NAMED
    text = "; ".join(named) + (f"; and {more} more line{'s' if more > 1 else ''}" if more > 0 else "")
    return text + (f" ({lookup.hint()})." if any(p.unknown for p in problems) else ".")


def item_message(problem: Problem, lookup: DrugLookup) -> str:
    """One API item's message: the problem, and what the model knows when a drug is unknown."""
    return problem.message[0].upper() + problem.message[1:] + (f" ({lookup.hint()})." if problem.unknown else ".")
