"""The screening endpoints: thin views over a trained OptimNeuralTS model (``bandits.selectors``,
``bandits.screening``).

    POST /bandit/predict  {"combination": ["DRUG_A", "DRUG_B"], "model"?}   one combination
    POST /bandit/screen   {"combinations": [[…], …], "model"?, "only_flagged"?}   at most 10,000
    GET  /bandit/metrics  [?model=<name>]   the model's training metrics

The model is the newest ``bandit`` checkpoint, or the one named by the body's ``model`` or the
query's ``?model=``. Answers: 409 when there is no model yet (404 for an unknown name); 422 in
OpenEnv's shape (``{"detail": [{"loc", "msg", "type", "input"}]}``) for a malformed body, one
item per bad combination naming its unknown drug ids (``loc: ["body", "combinations", 3]``);
413 over 10,000 combinations. Bodies over 1 MB are refused by the middleware; a client with
10,000 long combinations may send the body gzip-compressed (``Content-Encoding: gzip``). Auth as
the environment API (anonymous unless ``POLYPHARMACY_API_AUTH=required``). Nothing is written."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from bandits.params import MAX_SCREEN_COMBINATIONS
from bandits.selectors import BanditModelMissing, bandit_model_get, bandit_model_info, bandit_scorer
from envcore.errors import ValidationError
from episodes.api import EnvAPIPermission
from episodes.errors import error_response, validation_detail
from episodes.requests import parse_json_object

PREDICT_FIELDS = ("combination", "model")
SCREEN_FIELDS = ("combinations", "model", "only_flagged")
MAX_PROBLEMS_LISTED = 50
MAX_INFLATED_BYTES = 16 * 1024 * 1024  # a gzip body may inflate to this much, no more


class TooManyCombinations(Exception):
    pass


def _body(request: Request) -> dict[str, Any]:
    """The JSON object of the body, inflated first when it is gzip-compressed."""
    raw = request.body
    if request.headers.get("Content-Encoding", "").strip().lower() == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(raw, MAX_INFLATED_BYTES + 1)
        except zlib.error as exc:
            raise ValidationError(f"Malformed gzip body: {exc}", field=None) from exc
        if len(raw) > MAX_INFLATED_BYTES or inflater.unconsumed_tail:
            raise TooManyCombinations(f"The gzip body inflates beyond {MAX_INFLATED_BYTES} bytes.")
    return parse_json_object(raw)


def _check_fields(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise ValidationError(f"Unknown field {key!r}; expected some of {', '.join(allowed)}.", field=key)


def _model_name(request: Request, data: dict[str, Any]) -> str | None:
    name = data.get("model", request.query_params.get("model"))
    if name is None or name == "":
        return None
    if not isinstance(name, str) or len(name) > 100:
        raise ValidationError("model must be a checkpoint name (a string of at most 100 characters).", field="model")
    return name


def _missing(exc: BanditModelMissing) -> Response:
    return Response({"detail": exc.message}, status=exc.status)


def _model(name: str | None) -> tuple[Any, Any] | Response:
    """(checkpoint, loaded scorer) of the named or newest model, or the 409/404 answer."""
    try:
        ck = bandit_model_get(name)
        return ck, bandit_scorer(ck)
    except BanditModelMissing as exc:
        return _missing(exc)


def _problems_response(problems: list[Any], field: str, combos: list[Any], *, single: bool = False) -> Response:
    """422 naming each bad combination (the first MAX_PROBLEMS_LISTED) and its unknown ids."""
    detail = []
    for p in problems[:MAX_PROBLEMS_LISTED]:
        item = validation_detail(p.message, field, combos[p.index], kind=p.kind)[0]
        if not single:
            item["loc"].append(p.index)
        if p.unknown:
            item["unknown_drug_ids"] = list(dict.fromkeys(p.unknown))
        detail.append(item)
    if len(problems) > MAX_PROBLEMS_LISTED:
        detail.append(validation_detail(f"… and {len(problems) - MAX_PROBLEMS_LISTED} more bad combinations.",
                                        field, None)[0])
    return Response({"detail": detail}, status=422)


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(values.astype(np.float64), 6).tolist()


@dataclass
class _Scored:
    ck: Any
    scorer: Any
    X: np.ndarray
    scores: Any
    data: dict[str, Any]


def _score_request(request: Request, fields: tuple[str, ...], field: str,
                   read: Callable[[dict[str, Any]], list[Any]], *, single: bool = False) -> _Scored | Response:
    """The shared path of predict and screen: parse the body (413 for too much, 422 for bad
    input), find the model (409/404), encode the combinations that ``read`` takes from the body
    (422 naming unknown drug ids under ``field``) and score them."""
    data: Any = None
    try:
        data = _body(request)
        _check_fields(data, fields)
        name = _model_name(request, data)
        combos = read(data)
    except TooManyCombinations as exc:
        return Response({"detail": str(exc)}, status=413)
    except ValidationError as exc:
        return error_response(exc, data)
    found = _model(name)
    if isinstance(found, Response):
        return found
    ck, scorer = found
    X, problems = scorer.encode(combos)
    if problems:
        return _problems_response(problems, field, combos, single=single)
    return _Scored(ck, scorer, X, scorer.score(X), data)


def _read_combination(data: dict[str, Any]) -> list[Any]:
    combo = data.get("combination")
    if not isinstance(combo, list) or not combo:
        raise ValidationError("combination must be a non-empty list of drug ids.", field="combination")
    return [combo]


def _read_combinations(data: dict[str, Any]) -> list[Any]:
    combos = data.get("combinations")
    if not isinstance(combos, list) or not combos:
        raise ValidationError("combinations must be a non-empty list of combinations (lists of drug ids).",
                              field="combinations")
    if len(combos) > MAX_SCREEN_COMBINATIONS:
        raise TooManyCombinations(f"At most {MAX_SCREEN_COMBINATIONS:,} combinations per request, got "
                                  f"{len(combos):,}: split them, or run a bandit_screen job.")
    if not isinstance(data.get("only_flagged", False), bool):
        raise ValidationError("only_flagged must be true or false.", field="only_flagged")
    return combos


@api_view(["POST"])
@permission_classes([EnvAPIPermission])
def predict(request: Request) -> Response:
    """Predicted RR, NeuralTS width and lower bound of one combination of drug ids."""
    done = _score_request(request, PREDICT_FIELDS, "combination", _read_combination, single=True)
    if isinstance(done, Response):
        return done
    s, scorer = done.scores, done.scorer
    drugs = scorer.drugs_of(done.X[0])
    return Response({
        "model": bandit_model_info(done.ck),
        "combination": drugs,
        "drugs": [{"drug_id": d, "name": scorer.name_of(d)} for d in drugs],
        "predicted_rr": _rounded(s.mu)[0], "sigma": _rounded(s.sigma)[0], "lower_bound": _rounded(s.lower)[0],
        "flagged": bool(s.flagged[0]), "threshold": scorer.threshold, "z": scorer.z,
    })


@api_view(["POST"])
@permission_classes([EnvAPIPermission])
def screen(request: Request) -> Response:
    """Scores of up to 10,000 combinations, in request order (``index``), or only the flagged ones
    (``only_flagged``), highest lower bound first, with their drugs."""
    done = _score_request(request, SCREEN_FIELDS, "combinations", _read_combinations)
    if isinstance(done, Response):
        return done
    s, scorer, n = done.scores, done.scorer, len(done.X)
    mu, sigma, lower = _rounded(s.mu), _rounded(s.sigma), _rounded(s.lower)
    flagged = s.flagged.tolist()
    if done.data.get("only_flagged", False):
        order = [int(i) for i in np.argsort(-s.lower, kind="stable") if flagged[i]]
        results = [{"index": i, "drugs": scorer.drugs_of(done.X[i]), "predicted_rr": mu[i], "sigma": sigma[i],
                    "lower_bound": lower[i], "flagged": True} for i in order]
    else:
        results = [{"index": i, "predicted_rr": mu[i], "sigma": sigma[i], "lower_bound": lower[i],
                    "flagged": flagged[i]} for i in range(n)]
    return Response({"model": bandit_model_info(done.ck), "threshold": scorer.threshold, "z": scorer.z,
                     "n": n, "n_flagged": int(s.flagged.sum()), "results": results})


@api_view(["GET"])
@permission_classes([EnvAPIPermission])
def metrics(request: Request) -> Response:
    """The model's training metrics (precision, recall, pattern share of its flagged set, per
    flagging round too), its settings and dataset, and which model it is."""
    try:
        name = _model_name(request, {})
    except ValidationError as exc:
        return error_response(exc, {"model": request.query_params.get("model")}, where="query")
    try:
        ck = bandit_model_get(name)
    except BanditModelMissing as exc:
        return _missing(exc)
    m = ck.metrics or {}
    dataset = {k: v for k, v in (m.get("dataset") or {}).items() if k != "pattern_pairs"}
    return Response({"model": bandit_model_info(ck), "metrics": m.get("final") or {}, "steps": m.get("steps"),
                     "settings": m.get("settings") or {}, "dataset": dataset, "baselines": m.get("baselines") or {},
                     "history": m.get("history") or []})
