"""Reads for the bandit endpoints and jobs: which trained model, and its loaded scorer."""

from __future__ import annotations

from typing import Any

from catalog.selectors import CatalogNotLoaded, catalog_get
from envcore.errors import EnvError
from jobs.models import Checkpoint
from jobs.selectors import checkpoint_file, newest_checkpoint

TRAIN_HINT = 'train one first: a bandit_train job (the /jobs/ pages, or POST /api/jobs {"kind": "bandit_train"})'


class BanditModelMissing(EnvError):
    """No usable bandit model: ``status`` is 409 when none exists (or its file is unusable), 404
    when a model was named that does not exist."""

    code = "SESSION_ERROR"

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message, "model" if status == 404 else None)
        self.status = status


def bandit_model_get(name: str | None = None) -> Checkpoint:
    """The named bandit model, else the newest one; BanditModelMissing otherwise."""
    ck = newest_checkpoint(Checkpoint.Kind.BANDIT, name=name or None)
    if ck is not None:
        return ck
    if name:
        known = list(Checkpoint.objects.filter(kind=Checkpoint.Kind.BANDIT).values_list("name", flat=True)[:10])
        listed = f" Known models: {', '.join(known)}." if known else f" There is none yet: {TRAIN_HINT}."
        raise BanditModelMissing(f"No bandit model named {name!r}.{listed}", status=404)
    raise BanditModelMissing(f"No trained bandit model yet: {TRAIN_HINT}.")


def bandit_scorer(ck: Checkpoint) -> Any:
    """The model's ``bandits.screening.BanditScorer``, loaded once per process and file version."""
    from bandits.screening import cached_scorer

    try:
        path = checkpoint_file(ck)
    except LookupError as exc:  # a row pointing outside the artefact folder
        raise BanditModelMissing(str(exc)) from exc
    try:
        return cached_scorer(path, key=ck.pk)
    except FileNotFoundError as exc:
        raise BanditModelMissing(f"The file of bandit model {ck.name!r} is missing ({ck.path}).") from exc
    except Exception as exc:  # a truncated or foreign file: say so instead of a 500
        raise BanditModelMissing(f"The file of bandit model {ck.name!r} cannot be read: {exc}") from exc


def bandit_model_info(ck: Checkpoint) -> dict[str, Any]:
    """How the endpoints name the model they used."""
    return {"name": ck.name, "id": ck.pk, "job_id": ck.job_id, "catalog": ck.catalog or None,
            "dataset": (ck.metrics or {}).get("dataset", {}).get("kind"),
            "created_at": ck.created_at.isoformat() if ck.created_at else None}


def bandit_model_options() -> list[dict[str, str]]:
    """The screening form's model picker: "the newest" (blank), then every bandit model, newest
    first, each with its catalog ("" for a synthetic dataset's)."""
    models = list(Checkpoint.objects.filter(kind=Checkpoint.Kind.BANDIT).order_by("-created_at", "-id")
                  .only("name", "catalog", "job_id"))
    newest = models[0] if models else None
    options = [{"value": "", "group": "Bandit models", "catalog": newest.catalog if newest else "",
                "label": f"the newest ({newest.name})" if newest else "the newest (none trained yet)"}]
    for ck in models:
        where = f"catalog {ck.catalog}" if ck.catalog else "synthetic data"
        options.append({"value": ck.name, "label": f"{ck.name} — {where}, job {ck.job_id}", "group": "Bandit models",
                        "catalog": ck.catalog})
    return options


def bandit_drug_completions() -> list[dict[str, str]]:
    """Drug names (and ids) of the catalogs that bandit models were trained on, for completion
    while typing combinations. A synthetic model's drugs are only ids (D000…): none offered."""
    names = (Checkpoint.objects.filter(kind=Checkpoint.Kind.BANDIT).exclude(catalog="")
             .order_by("catalog").values_list("catalog", flat=True).distinct())
    out: list[dict[str, str]] = []
    for name in names:
        try:
            drugs = catalog_get(name).drugs
        except CatalogNotLoaded:  # removed since: its models still screen by id
            continue
        out.extend({"value": d.generic_name, "label": drug_id, "catalog": name}
                   for drug_id, d in sorted(drugs.items(), key=lambda item: item[1].generic_name.casefold()))
    return out
