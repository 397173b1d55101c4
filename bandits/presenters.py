"""What the job pages show of the bandit jobs: plots of the flagged set's quality over steps
(from ``job.series``, so a running job shows its curves so far) and tables of the flagged
combinations with their drugs, predicted RR and lower bound (from ``job.result``); for a
screening of given combinations, every one of them with its scores and known RR."""

from __future__ import annotations

from typing import Any

from agents.formatting import format_number as _num
from jobs.models import Job
from jobs.plots import Interval, Line, interval_chart, line_chart, series_lines
from jobs.presenters import Table

FLAGGED_SHOWN = 200
COMBINATIONS_SHOWN = 500  # rows of a screening's combinations on the page; the downloads have all
PER_COMBINATION_CHART_MAX = 20  # up to this many given combinations, a chart of each; beyond, the ranked curve


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


def _bound_label(result: dict[str, Any]) -> str:
    return f"lower bound (μ − {result.get('z', 3.0):g}σ)"


def _given_table(result: dict[str, Any], full: bool) -> Table:
    """Every given combination, in the order given (the page shows the first COMBINATIONS_SHOWN)."""
    combos = result.get("combinations") or []
    names = result.get("drug_names") or {}
    shown = combos if full else combos[:COMBINATIONS_SHOWN]
    title = (f"Combinations (all {len(combos)}, in the order given)" if len(shown) == len(combos) else
             f"Combinations (the first {len(shown):,} of {len(combos):,}, in the order given; the downloads have all)")
    return Table(title, ["#", "drugs", "predicted RR (μ)", "σ", _bound_label(result), "flagged", "known RR",
                         "known RR from"],
                 [[i + 1, " + ".join(names.get(d, d) for d in r["drugs"]), _num(r.get("predicted_rr")),
                   _num(r.get("sigma")), _num(r.get("lower_bound")), "yes" if r.get("flagged") else "no",
                   _num(r.get("known_rr")), r.get("known_rr_from") or "—"] for i, r in enumerate(shown)],
                 key="combinations", sortable=True)


def _given_plot(result: dict[str, Any]) -> Any:
    """A few combinations: each one's μ with its band μ ± zσ and bound, against the threshold.
    Many: every score ranked by its bound (where the bound crosses the threshold is how many
    were flagged)."""
    combos = result.get("combinations") or []
    names = result.get("drug_names") or {}
    threshold, z = result.get("threshold"), float(result.get("z", 3.0))
    bound = _bound_label(result)
    if len(combos) <= PER_COMBINATION_CHART_MAX:
        items = [Interval(str(i + 1), r["predicted_rr"], r["lower_bound"], r["predicted_rr"] + z * r["sigma"],
                          tip=f"#{i + 1} {' + '.join(names.get(d, d) for d in r['drugs'])}: "
                              f"μ {_num(r['predicted_rr'])}, σ {_num(r['sigma'])}, bound {_num(r['lower_bound'])}",
                          marked=bool(r.get("flagged")))
                 for i, r in enumerate(combos) if r.get("predicted_rr") is not None and r.get("sigma") is not None]
        return interval_chart(f"Predicted RR of the {len(combos)} combination{'s' if len(combos) > 1 else ''}",
                              items, threshold=threshold, y_label="relative risk",
                              x_label="combination (# in the table)",
                              labels=("predicted RR (μ)", f"μ ± {z:g}σ", bound))
    ranked = sorted((r for r in combos if r.get("lower_bound") is not None), key=lambda r: -r["lower_bound"])
    lines = [Line("predicted RR (μ)", [(float(k + 1), r["predicted_rr"]) for k, r in enumerate(ranked)]),
             Line(bound, [(float(k + 1), r["lower_bound"]) for k, r in enumerate(ranked)])]
    if threshold is not None and ranked:
        lines.append(Line(f"threshold {threshold}", [(1.0, threshold), (float(len(ranked)), threshold)]))
    return line_chart(f"Scores of the {len(combos)} combinations, ranked by their bound", lines,
                      x_label="rank (highest bound first)", y_label="relative risk", y_floor=0.0)


def _dataset_parts(result: dict[str, Any], full: bool) -> tuple[Any, Table]:
    """A whole training set: the ranked quantiles of every score, and the top rows by bound
    (an older result kept only its flagged rows)."""
    q = result.get("quantiles") or {}
    # Every screened combination's score, ranked: where the curve of the bound crosses the
    # threshold is how many were flagged (the result keeps 101 quantiles, not every score).
    pct = [float(p) for p in range(len(q.get("mu") or []))]
    threshold = result.get("threshold")
    lines = [Line("predicted RR (μ)", list(zip(pct, q.get("mu") or []))),
             Line(_bound_label(result), list(zip(pct, q.get("lower_bound") or [])))]
    if threshold is not None and pct:
        lines.append(Line(f"threshold {threshold}", [(0.0, threshold), (100.0, threshold)]))
    plot = line_chart(f"Scores of the {result.get('n')} combinations, ranked", lines,
                      x_label="share of combinations (%)", y_label="relative risk", y_floor=0.0)
    older = "top" not in result
    rows = result.get("flagged" if older else "top") or []
    shown = rows if full else rows[:FLAGGED_SHOWN]
    what = "flagged combinations" if older else "combinations"
    more = "" if len(shown) == len(rows) else f"; the downloads have {len(rows):,}"
    title = (f"Top {what} by {_bound_label(result)} ({len(shown):,} of {result.get('n') or 0:,}; "
             f"{result.get('n_flagged') or 0:,} flagged{more})")
    table = Table(title, ["#", "drugs", "predicted RR (μ)", "σ", _bound_label(result), "flagged", "known RR", "PIP"],
                  [[i + 1, _drugs(r), _num(r.get("predicted_rr")), _num(r.get("sigma")), _num(r.get("lower_bound")),
                    "yes" if r.get("flagged") else "no", _num(r.get("true_rr")),
                    "—" if r.get("pip") is None else "yes" if r["pip"] else "no"] for i, r in enumerate(shown)],
                  key="top", sortable=True)
    return plot, table


def present_bandit_screen(job: Job, full: bool = False) -> dict[str, Any]:
    result = job.result or {}
    if not result:
        return {"plots": [], "tables": []}
    truth = result.get("truth") or {}
    summary = [[result.get("checkpoint"), result.get("source"), result.get("n"), result.get("n_flagged"),
                result.get("threshold"), _num(truth.get("precision")) if truth else "—",
                _num(truth.get("recall")) if truth else "—"]]
    tables = [Table("Screening", ["model", "combinations", "screened", "flagged", "threshold", "precision (known RR)",
                                  "recall (known RR)"], summary)]
    if "combinations" in result:
        plots = [_given_plot(result)]
        tables.append(_given_table(result, full))
    else:
        plot, table = _dataset_parts(result, full)
        plots = [plot]
        tables.append(table)
    notes = []
    if result.get("n_flagged") == 0:
        notes.append(f"No combination is flagged: none of the {result.get('n')} has its {_bound_label(result)} "
                     f"above the threshold {result.get('threshold')}.")
    return {"plots": plots, "tables": tables, "notes": notes}


# The jobs list's line for a bandit job (jobs.presenters.headline and subject ask through the kind).
def headline_bandit_train(params: dict[str, Any], parts: dict[str, Any]) -> str:
    f = parts.get("final")
    return f"precision {_num(f.get('precision'))} · recall {_num(f.get('recall'))}" if isinstance(f, dict) else "—"


def headline_bandit_screen(params: dict[str, Any], parts: dict[str, Any]) -> str:
    if parts.get("n_flagged") is None:
        return "—"
    return f"{parts['n_flagged']} of {parts.get('n', '?')} flagged"


def subject_bandit_train(params: dict[str, Any]) -> tuple[str, str]:
    # No task: what it learned from.
    task = f"{params.get('catalog')} catalog" if params.get("dataset") == "catalog" else f"{params.get('dataset')} data"
    return task, params.get("checkpoint_name") or params.get("algorithm") or "—"


def subject_bandit_screen(params: dict[str, Any]) -> tuple[str, str]:
    return params.get("task_id") or "—", params.get("checkpoint") or "newest bandit model"
