"""The screening endpoints: thin views over a trained OptimNeuralTS model (``bandits.selectors``,
``bandits.screening``).

    POST /bandit/predict  {"combination": ["DRUG_A", "DRUG_B"], "model"?}   one combination
    POST /bandit/screen   {"combinations": [[…], …], "model"?, "only_flagged"?}   at most 10,000
    GET  /bandit/metrics  [?model=<name>]   the model's training metrics

The model is the newest ``bandit`` checkpoint, or the one named by the body's ``model`` or the
query's ``?model=``. Answers: 409 when there is no model yet (404 for an unknown name); 422 in
OpenEnv's shape (``{"detail": [{"loc", "msg", "type", "input"}]}``) for a malformed body, one
item per bad combination naming its unknown drug ids (``loc: ["body", "combinations", 3]``);
413 over 10,000 combinations or 100,000 drug ids in all, 422 for a combination of over 40 drugs
(a combination given several times is scored once). Bodies over 1 MB are refused while they are
read (the edge); a client with 10,000 long combinations may send the body gzip-compressed
(``Content-Encoding: gzip``). Who may: ``accounts.permissions``' "bandit.use" (anyone while the
environment API is anonymous, ``POLYPHARMACY_API_AUTH=anonymous``; else researchers, supervisors
and superusers). Nothing is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable

import numpy as np
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from rest_framework import permissions
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from bandits.gate import gated, rendered
from bandits.params import MAX_COMBINATION_DRUGS, screen_size_problem
from bandits.selectors import bandit_model_get, bandit_model_info, bandit_scorer
from envcore.contract import DrugId, validate, validation_error
from envcore.errors import PayloadTooLarge, ValidationError
from episodes import openapi
from episodes.api import query_model
from episodes.wire import body_object
from accounts import permissions as matrix

MAX_PROBLEMS_LISTED = 50
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Combination = Annotated[list[DrugId], Field(min_length=1, max_length=MAX_COMBINATION_DRUGS)]


class PredictRequest(BaseModel):
    """``POST /bandit/predict``: one combination of drug ids, and optionally the model's name."""

    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=())
    combination: Combination
    model: ModelName | None = None


class ScreenRequest(BaseModel):
    """``POST /bandit/screen``: up to 10,000 combinations."""

    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=())
    combinations: Annotated[list[Combination], Field(min_length=1)]
    model: ModelName | None = None
    only_flagged: bool = False


class ModelQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=())
    model: ModelName | None = None


class BanditPermission(permissions.BasePermission):
    """ "bandit.use": refused anonymous callers get DRF's 401, signed-in ones a 403 saying who may."""

    message = matrix.refusal("bandit.use")

    def has_permission(self, request: Any, view: Any) -> bool:
        return matrix.allowed(request.user, "bandit.use")


def _checkpoint(name: str | None, *, loaded: bool) -> tuple[Any, Any]:
    """The named or newest model's checkpoint, and its loaded scorer when ``loaded``; raises
    ``BanditModelMissing``: 409 (none yet, or its file is unusable) or 404 (no such name)."""
    ck = bandit_model_get(name)
    return ck, bandit_scorer(ck) if loaded else None


def _problems(problems: list[Any], combos: list[Any], *, single: bool = False) -> ValidationError:
    """422 naming each bad combination (the first MAX_PROBLEMS_LISTED) and its unknown ids."""
    field = "combination" if single else "combinations"
    detail = []
    for p in problems[:MAX_PROBLEMS_LISTED]:
        loc: list[Any] = [field] if single else [field, p.index]
        item: dict[str, Any] = {"type": p.kind, "loc": loc, "msg": p.message, "input": combos[p.index]}
        if p.unknown:
            item["unknown_drug_ids"] = list(dict.fromkeys(p.unknown))
        detail.append(item)
    if len(problems) > MAX_PROBLEMS_LISTED:
        detail.append({"type": "value_error", "loc": [field], "input": None,
                       "msg": f"… and {len(problems) - MAX_PROBLEMS_LISTED} more bad combinations."})
    return ValidationError(detail[0]["msg"], ".".join(str(x) for x in detail[0]["loc"]), errors=detail)


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(values.astype(np.float64), 6).tolist()


@dataclass
class _Scored:
    ck: Any
    scorer: Any
    X: np.ndarray
    scores: Any


def _score(request: Request, combos: list[list[str]], name: str | None, *, single: bool = False) -> _Scored:
    """The shared path of predict and screen, after the body is validated: find the model
    (409/404), encode the combinations (422 naming unknown drug ids) and score them."""
    name = name or query_model(request, ModelQuery, ("model",)).model
    ck, scorer = _checkpoint(name, loaded=True)
    X, problems = scorer.encode(combos)
    if problems:
        raise _problems(problems, combos, single=single)
    return _Scored(ck, scorer, X, scorer.score(X))


# Combinations validated per pydantic call: one call over 10,000 of them held the GIL for
# about 115 ms (pydantic-core does not release it), which is what /health waited for.
VALIDATE_CHUNK = 500
_COMBINATIONS = TypeAdapter(list[Combination])


def _chunk_relocation(at: int) -> Callable[[list[str | int]], list[str | int]]:
    """Paths in a chunk of the list validated on its own renamed: its item i is the list's at + i."""
    return lambda loc: ["combinations", int(loc[0]) + at, *loc[1:]]


def screen_request(data: dict[str, Any]) -> ScreenRequest:
    """``ScreenRequest`` validated as one model would, its combinations VALIDATE_CHUNK at a time
    (errors name the combination by its index in the whole request; the first bad chunk's)."""
    combos = data.get("combinations")
    if not isinstance(combos, list) or len(combos) <= VALIDATE_CHUNK:
        return validate(ScreenRequest, data)
    body = validate(ScreenRequest, {**data, "combinations": combos[:VALIDATE_CHUNK]})
    rest: list[list[str]] = []
    for start in range(VALIDATE_CHUNK, len(combos), VALIDATE_CHUNK):
        try:
            rest += _COMBINATIONS.validate_python(combos[start:start + VALIDATE_CHUNK])
        except PydanticValidationError as exc:
            raise validation_error(exc, relocate=_chunk_relocation(start)) from None
    return body.model_copy(update={"combinations": body.combinations + rest})


_ANSWERS = {200: OpenApiTypes.OBJECT, 401: openapi.DETAIL, 403: openapi.DETAIL, 404: openapi.DETAIL,
            409: openapi.DETAIL, 413: openapi.DETAIL, 422: openapi.VALIDATION}
_MODEL_QUERY = OpenApiParameter("model", str, required=False, description="A bandit checkpoint's name.")


@extend_schema(operation_id="bandit_predict", request={"application/json": PredictRequest.model_json_schema()},
               parameters=[_MODEL_QUERY], responses=_ANSWERS)
@api_view(["POST"])
@permission_classes([BanditPermission])
@gated
def predict(request: Request) -> Response:
    """Predicted RR, NeuralTS width and lower bound of one combination of drug ids."""
    body = validate(PredictRequest, body_object(request))
    done = _score(request, [body.combination], body.model, single=True)
    s, scorer = done.scores, done.scorer
    drugs = scorer.drugs_of(done.X[0])
    return Response({
        "model": bandit_model_info(done.ck),
        "combination": drugs,
        "drugs": [{"drug_id": d, "name": scorer.name_of(d)} for d in drugs],
        "predicted_rr": _rounded(s.mu)[0], "sigma": _rounded(s.sigma)[0], "lower_bound": _rounded(s.lower)[0],
        "flagged": bool(s.flagged[0]), "threshold": scorer.threshold, "z": scorer.z,
    })


@extend_schema(operation_id="bandit_screen", request={"application/json": ScreenRequest.model_json_schema()},
               parameters=[_MODEL_QUERY], responses=_ANSWERS)
@api_view(["POST"])
@permission_classes([BanditPermission])
@gated
def screen(request: Request) -> HttpResponse:
    """Scores of up to 10,000 combinations, in request order (``index``), or only the flagged ones
    (``only_flagged``), highest lower bound first, with their drugs."""
    data = body_object(request)
    too_large = screen_size_problem(data.get("combinations"), "request")
    if too_large:
        raise PayloadTooLarge(too_large, field="combinations")
    body = screen_request(data)
    done = _score(request, body.combinations, body.model)
    s, scorer, n = done.scores, done.scorer, len(done.X)
    mu, sigma, lower = _rounded(s.mu), _rounded(s.sigma), _rounded(s.lower)
    flagged = s.flagged.tolist()
    if body.only_flagged:
        order = [int(i) for i in np.argsort(-s.lower, kind="stable") if flagged[i]]
        results = [{"index": i, "drugs": scorer.drugs_of(done.X[i]), "predicted_rr": mu[i], "sigma": sigma[i],
                    "lower_bound": lower[i], "flagged": True} for i in order]
    else:
        results = [{"index": i, "predicted_rr": mu[i], "sigma": sigma[i], "lower_bound": lower[i],
                    "flagged": flagged[i]} for i in range(n)]
    return rendered({"model": bandit_model_info(done.ck), "threshold": scorer.threshold, "z": scorer.z,
                     "n": n, "n_flagged": int(s.flagged.sum()), "results": results})


@extend_schema(operation_id="bandit_metrics", request=None, parameters=[_MODEL_QUERY], responses=_ANSWERS)
@api_view(["GET"])
@permission_classes([BanditPermission])
def metrics(request: Request) -> Response:
    """The model's training metrics (precision, recall, pattern share of its flagged set, per
    flagging round too), its settings and dataset, and which model it is."""
    ck, _ = _checkpoint(query_model(request, ModelQuery, ("model",)).model, loaded=False)
    m = ck.metrics or {}
    dataset = {k: v for k, v in (m.get("dataset") or {}).items() if k != "pattern_pairs"}
    return Response({"model": bandit_model_info(ck), "metrics": m.get("final") or {}, "steps": m.get("steps"),
                     "settings": m.get("settings") or {}, "dataset": dataset, "baselines": m.get("baselines") or {},
                     "history": m.get("history") or []})
