"""What the job pages show of the bandit jobs: plots of the flagged set's quality over steps
(from ``job.series``, so a running job shows its curves so far) and tables of the flagged
combinations with their drugs, predicted RR and lower bound (from ``job.result``)."""

from __future__ import annotations

from typing import Any

from jobs.models import Job
from jobs.plots import Line, line_chart, series_lines
from jobs.presenters import Table

FLAGGED_SHOWN = 200


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _drugs(row: dict[str, Any]) -> str:
    return " + ".join(row.get("names") or row.get("drugs") or [])


def _pattern_label(dataset: dict[str, Any]) -> str:
    return "severe pairs flagged" if dataset.get("kind") == "catalog" else "patterns flagged"


def present_bandit_train(job: Job, full: bool = False) -> dict[str, Any]:
    series = job.series or []
    result = job.result or {}
    dataset = result.get("dataset") or {"kind": job.params.get("dataset")}
    lines = series_lines(series, ["precision", "recall", "pattern_share", "severe_pairs_covered"])
    labels = {"pattern_share": _pattern_label(dataset), "severe_pairs_covered": "severe pairs inside a flagged one"}
    lines = [Line(labels.get(line.label, line.label), line.points) for line in lines]
    plots = [
        line_chart("Flagged set over steps (union of the flagging rounds)", lines, y_label="share", y_range=(0, 1)),
        line_chart("Combinations flagged", series_lines(series, ["n_flagged", "n_true_positive", "distinct_pip_pulled"]),
                   y_label="combinations"),
    ]
    tables: list[Table] = []
    if not result:
        return {"plots": plots, "tables": tables}
    final = result.get("final") or {}
    rows = [["OptimNeuralTS", final.get("step"), final.get("n_flagged"), final.get("n_true_positive"),
             _num(final.get("precision")), _num(final.get("recall")), _num(final.get("pattern_share"))]]
    names = {"random_supervised": "random pulls, one supervised fit (same budget)",
             "sequential_random": "random pulls, flag the observed (same budget)"}
    for key, m in (result.get("baselines") or {}).items():
        rows.append([names.get(key, key), result.get("steps"), m.get("n_flagged"), m.get("n_true_positive"),
                     _num(m.get("precision")), _num(m.get("recall")), _num(m.get("pattern_share"))])
    tables.append(Table(f"Final metrics (model {result.get('checkpoint')})",
                        ["method", "pulls", "flagged", "true PIPs", "precision", "recall", _pattern_label(dataset)],
                        rows))
    tables.append(Table("Dataset", ["kind", "catalog", "combinations", "drugs", "PIPs (RR > 1.1)", "patterns"],
                        [[dataset.get("kind"), dataset.get("catalog") or "—", dataset.get("n_combinations"),
                          dataset.get("n_drugs"), f"{dataset.get('n_pip')} ({_num(dataset.get('pip_share'))})",
                          dataset.get("n_patterns")]]))
    flagged = result.get("flagged") or []
    tables.append(Table(
        f"Flagged combinations ({len(flagged)} of {result.get('n_flagged', len(flagged))}, highest lower bound first)",
        ["#", "drugs", "predicted RR (μ)", "lower bound (μ − 3σ)", "true RR", "PIP"],
        [[i + 1, _drugs(r), _num(r.get("predicted_rr")), _num(r.get("lower_bound")), _num(r.get("true_rr")),
          "yes" if r.get("pip") else "no"] for i, r in enumerate(flagged if full else flagged[:FLAGGED_SHOWN])]))
    return {"plots": plots, "tables": tables}


def present_bandit_screen(job: Job, full: bool = False) -> dict[str, Any]:
    result = job.result or {}
    if not result:
        return {"plots": [], "tables": []}
    q = result.get("quantiles") or {}
    # Every screened combination's score, ranked: where the curve of the bound crosses the
    # threshold is how many were flagged (the result keeps 101 quantiles, not every score).
    pct = [float(p) for p in range(len(q.get("mu") or []))]
    threshold = result.get("threshold")
    lines = [Line("predicted RR (μ)", list(zip(pct, q.get("mu") or []))),
             Line("lower bound (μ − 3σ)", list(zip(pct, q.get("lower_bound") or [])))]
    if threshold is not None and pct:
        lines.append(Line(f"threshold {threshold}", [(0.0, threshold), (100.0, threshold)]))
    plots = [line_chart(f"Scores of the {result.get('n')} combinations, ranked", lines,
                        x_label="share of combinations (%)", y_label="relative risk")]
    truth = result.get("truth") or {}
    summary = [[result.get("checkpoint"), result.get("source"), result.get("n"), result.get("n_flagged"),
                _num(truth.get("precision")) if truth else "—", _num(truth.get("recall")) if truth else "—"]]
    tables = [Table("Screening", ["model", "combinations", "screened", "flagged", "precision (known RR)",
                                  "recall (known RR)"], summary)]
    flagged = result.get("flagged") or []
    columns = ["#", "drugs", "predicted RR (μ)", "σ", "lower bound (μ − 3σ)"] + (["true RR"] if truth else [])
    shown = flagged if full else flagged[:FLAGGED_SHOWN]
    tables.append(Table(f"Flagged combinations ({len(shown)} of {result.get('n_flagged')}, highest lower bound first)",
                        columns, [[i + 1, _drugs(r), _num(r.get("predicted_rr")), _num(r.get("sigma")),
                                   _num(r.get("lower_bound"))] + ([_num(r.get("true_rr"))] if truth else [])
                                  for i, r in enumerate(shown)]))
    return {"plots": plots, "tables": tables}
