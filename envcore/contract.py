"""The wire contract (DESIGN §4), defined once: every other form is derived from these types.

- the **action**: a union of three pydantic models discriminated by ``action_type``, unknown
  fields refused, strict types (a number is not a drug id, ``true`` is not a seed);
- the **reset and step requests**, the **state and render queries**, the **WebSocket frames**
  (client and server), the **reset/step response** and the **render response**;
- the **observation** and **state** are ``envcore.observation``'s dataclasses, described to
  pydantic by their annotations.

From them come ``/schema``, the OpenAPI components, the MCP tool input schemas, the LLM prompt's
action schema and the 422 items (``validation_error`` turns pydantic's errors into FastAPI's
``{"type", "loc", "msg", "input"}``). Parsing JSON is ``envcore.strict_json``'s job; these
models validate the parsed value.

Flat clients (the reference's) send every action field, unused ones as null and
``intervention_type`` as "none"; each action model accepts exactly those as "unused" and
refuses a real value there, naming the field.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationInfo, create_model, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.json_schema import SkipJsonSchema

from envcore.catalog import CATALOG_NAMES, TASK_IDS
from envcore.errors import UnknownMessageType, ValidationError
from envcore.observation import OBSERVATION, STATE, InterventionType, Observation, State
from envcore.tasks import SPLITS

ACTION_TYPES = ("query_ddi", "propose_intervention", "finish_review")
INTERVENTION_TYPES = ("stop", "dose_reduce", "substitute", "add_monitoring")
DURABILITIES = ("full", "fast")
MAX_ID_LENGTH = 100  # a drug id
MAX_RATIONALE_LENGTH = 2000
MAX_KEY_LENGTH = 255  # an episode, patient or request id (the Episode.episode_id column)
WS_FRAME_TYPES = ("reset", "step", "state", "close", "mcp")

DrugId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH)]
Rationale = Annotated[str, StringConstraints(max_length=MAX_RATIONALE_LENGTH)]
# A field another action type uses: a flat client's null is accepted, anything else refused.
Unused = SkipJsonSchema[None]
UnusedKind = SkipJsonSchema[Literal["none"] | None]
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class _ActionBase(BaseModel):
    model_config = _STRICT
    # OpenEnv's base Action carries a metadata object; it is accepted and ignored.
    metadata: dict[str, Any] | None = Field(default=None, exclude=True)

    def to_dict(self) -> dict[str, Any]:
        """The plain form without unset fields: what a Step row stores and a client sends."""
        return self.model_dump(exclude_none=True)


class QueryDDI(_ActionBase):
    """Look up the interaction between two distinct drugs of the current regimen (one query)."""

    action_type: Literal["query_ddi"]
    drug_id_1: DrugId
    drug_id_2: DrugId
    target_drug_id: Unused = Field(default=None, exclude=True)
    intervention_type: UnusedKind = Field(default=None, exclude=True)
    proposed_new_drug_id: Unused = Field(default=None, exclude=True)
    rationale: Unused = Field(default=None, exclude=True)


class ProposeIntervention(_ActionBase):
    """Stop, dose-reduce, substitute or monitor a drug of the regimen (one intervention).

    A substitute must be a known drug of the target's ATC level-4 class, not already taken;
    with none named the environment picks the safest one."""

    action_type: Literal["propose_intervention"]
    target_drug_id: DrugId
    intervention_type: InterventionType
    proposed_new_drug_id: DrugId | None = None
    rationale: Rationale | None = None
    drug_id_1: Unused = Field(default=None, exclude=True)
    drug_id_2: Unused = Field(default=None, exclude=True)


class FinishReview(_ActionBase):
    """End the review; the observation then carries the grader score."""

    action_type: Literal["finish_review"]
    drug_id_1: Unused = Field(default=None, exclude=True)
    drug_id_2: Unused = Field(default=None, exclude=True)
    target_drug_id: Unused = Field(default=None, exclude=True)
    intervention_type: UnusedKind = Field(default=None, exclude=True)
    proposed_new_drug_id: Unused = Field(default=None, exclude=True)
    rationale: Unused = Field(default=None, exclude=True)


Action = Annotated[Union[QueryDDI, ProposeIntervention, FinishReview], Field(discriminator="action_type")]
ACTION_MODELS: dict[str, type[_ActionBase]] = {
    "query_ddi": QueryDDI, "propose_intervention": ProposeIntervention, "finish_review": FinishReview,
}
ACTION = TypeAdapter(Action)
FINISH = FinishReview(action_type="finish_review")


def query(drug_id_1: str, drug_id_2: str) -> QueryDDI:
    return QueryDDI(action_type="query_ddi", drug_id_1=drug_id_1, drug_id_2=drug_id_2)


def intervene(target: str, kind: str, new_drug: str | None = None, rationale: str | None = None) -> ProposeIntervention:
    return ProposeIntervention(
        action_type="propose_intervention", target_drug_id=target, intervention_type=kind,  # type: ignore[arg-type]  # pydantic checks the str
        proposed_new_drug_id=new_drug, rationale=rationale,
    )


# ── requests ────────────────────────────────────────────────────────────────
Seed = Annotated[int, Field(ge=0, le=2**63 - 1, description="Picks the patient reproducibly.")]
# Literal[TUPLE]: pydantic reads the tuple's values; mypy only takes values spelled out.
TaskName = Literal[TASK_IDS]  # type: ignore[valid-type]  # a tuple's values
CatalogName = Literal[CATALOG_NAMES]  # type: ignore[valid-type]  # a tuple's values


class EnvReset(BaseModel):
    """What ``PolypharmacyEnv.reset`` takes (all optional; an empty body is a valid reset)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    seed: Seed | None = None
    episode_id: Key | None = Field(default=None, description="Names the new episode (or, on the site, "
                                   "resumes the caller's open episode of that id).")
    task_id: TaskName | None = Field(default=None, description="Defaults to budgeted_screening, or to the "
                                     "patient's own task.")
    patient_id: Key | None = Field(default=None, description="A patient of the task's pool.")


class ResetRequest(EnvReset):
    """``POST /reset``: the environment's reset plus the site's two options."""

    catalog: CatalogName | None = Field(default=None, description="Defaults to curated.")
    durability: Literal[DURABILITIES] | None = Field(  # type: ignore[valid-type]  # a tuple's values
        default=None, description="full: every step committed durably; fast: commits without waiting "
        "for the disk (training episodes). Defaults to POLYPHARMACY_API_DURABILITY.")
    # The Task API's choice (OpenEnv 0.10: "pass the chosen split and index to reset()"): the task
    # then names the seed, task and patient itself.
    index: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = Field(
        default=None, description="A task of the split (GET /polypharmacy_env/splits).")
    split: Literal[SPLITS] | None = Field(  # type: ignore[valid-type]  # a tuple's values
        default=None, validate_default=True, description="With index: start that task of the Task API's split "
        "(train, test or patients) instead of naming seed, task_id or patient_id.")

    @field_validator("split")
    @classmethod
    def _split_picks_the_task(cls, split: str | None, info: ValidationInfo) -> str | None:
        if split is None:
            if info.data.get("index") is not None:
                raise ValueError("is required with index (the split the index is in)")
            return None
        if "index" in info.data and info.data["index"] is None:
            raise ValueError("must come with index (the task of the split to start)")
        named = [name for name in ("seed", "task_id", "patient_id") if info.data.get(name) is not None]
        if named:
            raise ValueError(f"must not come with {', '.join(named)}: the split's task names them")
        return split


class StepRequest(BaseModel):
    """``POST /step``: an action, on the named episode or the caller's most recent open one."""

    model_config = ConfigDict(extra="forbid", strict=True)
    action: Action
    episode_id: Key | None = None
    timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    request_id: Key | None = None


class StateQuery(BaseModel):
    """``GET /state``'s query (other query parameters are ignored, as OpenEnv's server does),
    and the MCP state tool's arguments."""

    model_config = ConfigDict(extra="forbid", strict=True)
    episode_id: Key | None = None


class RenderQuery(StateQuery):
    """``GET /render``'s query: the episode to render, else the caller's most recent one."""


class TaskListRequest(BaseModel):
    """The Task API's ``POST /polypharmacy_env/tasks`` and ``/num_tasks`` (OpenEnv 0.10)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    split: Literal[SPLITS] = Field(description="train, test or patients (GET /polypharmacy_env/splits).")  # type: ignore[valid-type]  # a tuple's values


class TaskRequest(TaskListRequest):
    """``POST /polypharmacy_env/task``: one task of a split (400 when the index is outside it)."""

    index: int = Field(description="The task's position in the split, from 0.")


class TaskRangeRequest(TaskListRequest):
    """``POST /polypharmacy_env/task_range``: tasks ``[start, stop)``, as a Python slice."""

    start: int | None = None
    stop: int | None = None


# ── responses and frames ────────────────────────────────────────────────────
class StepResponse(BaseModel):
    """The reset and step answer: exactly these three keys (OpenEnv's client forbids others)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)
    observation: Observation
    reward: float | None
    done: bool


class RenderResponse(BaseModel):
    """``GET /render``: the episode's latest observation as the text a language model reads
    (``envcore.render``: the LLM suggester's prompt is built from the same text). Kept out of the
    reset/step answer, which OpenEnv's clients hold to exactly observation, reward and done."""

    model_config = ConfigDict(extra="forbid")
    episode_id: str
    step_index: Annotated[int, Field(ge=0)]
    done: bool
    text: str = Field(description="The whole observation as JSON, each drug's same-class substitute "
                      "candidates and the rules an action must follow.")


class ErrorItem(BaseModel):
    type: str
    loc: list[str | int]
    msg: str
    input: Any = None


class ErrorData(BaseModel):
    message: str
    code: Literal["INVALID_JSON", "UNKNOWN_TYPE", "VALIDATION_ERROR", "EXECUTION_ERROR", "CAPACITY_REACHED",
                  "SESSION_ERROR", "FACTORY_ERROR"]
    field: str | None = None
    errors: list[ErrorItem] | None = None


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ResetFrame(_Frame):
    type: Literal["reset"]
    data: ResetRequest | None = None


class StepFrame(_Frame):
    type: Literal["step"]
    data: Action


class StateFrame(_Frame):
    type: Literal["state"]
    data: dict[str, Any] | None = None


class CloseFrame(_Frame):
    type: Literal["close"]
    data: dict[str, Any] | None = None


class McpFrame(_Frame):
    type: Literal["mcp"]
    data: dict[str, Any] = Field(description="One JSON-RPC 2.0 message, answered as MCP over HTTP is.")


ClientFrame = Annotated[Union[ResetFrame, StepFrame, StateFrame, CloseFrame, McpFrame], Field(discriminator="type")]
CLIENT_FRAME = TypeAdapter(ClientFrame)


class ObservationFrame(_Frame):
    type: Literal["observation"]
    data: StepResponse


class StateReplyFrame(_Frame):
    type: Literal["state"]
    data: State


class ErrorFrame(_Frame):
    type: Literal["error"]
    data: ErrorData


class McpReplyFrame(_Frame):
    type: Literal["mcp"]
    data: dict[str, Any]


ServerFrame = Annotated[Union[ObservationFrame, StateReplyFrame, ErrorFrame, McpReplyFrame],
                        Field(discriminator="type")]

# ── validation ──────────────────────────────────────────────────────────────
_TAGS = frozenset(ACTION_TYPES) | frozenset(WS_FRAME_TYPES)
_INPUT_ECHO_LIMIT = 300  # characters of an offending value echoed back in a 422 item


def validation_error(exc: PydanticValidationError, *, prefix: tuple[str | int, ...] = (), where: str = "body",
                     relocate: Callable[[list[str | int]], list[str | int]] | None = None) -> ValidationError:
    """Our ValidationError from pydantic's: FastAPI's items, ``loc`` relative to the request,
    each message prefixed with the field it concerns."""
    items = []
    errors = exc.errors(include_url=False)
    for error in errors:
        loc = _loc(error, prefix)
        if relocate is not None:
            loc = relocate(loc)
        path = ".".join(str(part) for part in loc)
        message = _message(error, path)
        value = error.get("input")
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            value = (error.get("ctx") or {}).get("tag")  # the loc names the tag field: echo its value
        items.append({"type": error["type"], "loc": loc, "msg": message, "input": _echo(value)})
    first = items[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    # A frame of a string type we do not serve is OpenEnv's UNKNOWN_TYPE; anything else malformed.
    frame = errors[0].get("input")
    unknown_type = first["loc"] == ["type"] and first["type"] == "union_tag_invalid" and isinstance(frame, dict) \
        and isinstance(frame.get("type"), str)
    cls = UnknownMessageType if unknown_type else ValidationError
    return cls(first["msg"], field, errors=items, where=where)


def _loc(error: Any, prefix: tuple[str | int, ...]) -> list[str | int]:
    raw = list(prefix) + list(error["loc"])
    # A discriminated union puts the tag into the path (["action", "query_ddi", "drug_id_1"]);
    # clients name fields, not tags.
    loc: list[str | int] = []
    for i, part in enumerate(raw):
        if isinstance(part, str) and part in _TAGS and (i == 0 or raw[i - 1] in ("action", "data")):
            continue
        loc.append(part)
    if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
        loc.append(error.get("ctx", {}).get("discriminator", "").strip("'") or "type")
    return loc


def _message(error: Any, path: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    name = path.rsplit(".", 1)[-1] if path else ""
    tags = ", ".join(ACTION_TYPES if name == "action_type" else WS_FRAME_TYPES)
    if kind == "missing":
        text = "is required."
    elif kind == "extra_forbidden":
        text = "is not a known field."
    elif kind == "none_required":
        text = "is not used by this action_type (send it as null or leave it out)."
    elif kind == "union_tag_not_found":
        text = f"is required; expected one of {tags}."
    elif kind == "union_tag_invalid":
        text = f"{ctx.get('tag')!r} is not known; expected one of {tags}."
    elif kind in ("model_attributes_type", "model_type", "dict_type"):
        text = "must be a JSON object."
    elif kind == "value_error":  # a validator's own words, without pydantic's "Value error, "
        text = str(error["msg"]).removeprefix("Value error, ") + "."
    else:
        text = error["msg"] + ("." if not error["msg"].endswith(".") else "")
    if not path:
        return text[0].upper() + text[1:]
    return f"{path} {text}" if text.startswith(("is ", "must ")) else f"{path}: {text}"


def _echo(value: Any) -> Any:
    """The offending input, unless it is too large to be worth sending back."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= _INPUT_ECHO_LIMIT else value[:_INPUT_ECHO_LIMIT] + "…"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value if len(text) <= _INPUT_ECHO_LIMIT else None


def validate(model: Any, data: Any, *, prefix: tuple[str | int, ...] = (), where: str = "body") -> Any:
    """``model`` (a pydantic model class or TypeAdapter) validating ``data``; our
    ValidationError otherwise (``where``: what its locations are in, the "body" or "query")."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise validation_error(exc, prefix=prefix, where=where) from None


def _frame_relocation(kind: Any) -> Callable[[list[str | int]], list[str | int]]:
    """Frame paths renamed as HTTP names them: a step frame's data is the action
    (``action.drug_id_2``), a reset frame's data is the reset body (``seed``)."""
    renamed: dict[str, list[str | int]] = {"step": ["action"], "reset": []}
    data_at = renamed.get(kind) if isinstance(kind, str) else None

    def relocate(loc: list[str | int]) -> list[str | int]:
        return data_at + loc[1:] if data_at is not None and loc[:1] == ["data"] else loc

    return relocate


def parse_frame(value: Any) -> ResetFrame | StepFrame | StateFrame | CloseFrame | McpFrame:
    """A WebSocket client frame (parsed JSON), validated; errors name fields as HTTP does."""
    try:
        return CLIENT_FRAME.validate_python(value)
    except PydanticValidationError as exc:
        kind = value.get("type") if isinstance(value, dict) else None
        raise validation_error(exc, relocate=_frame_relocation(kind)) from None


_FRAME_TYPE = re.compile(r'"type"\s*:\s*"([a-z]+)"')


def frame_json_error(exc: ValidationError, raw: str | bytes) -> ValidationError:
    """A strict-JSON error in a frame, its field renamed as ``parse_frame`` names them (the
    frame's type read from the raw text, since it did not parse)."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    found = _FRAME_TYPE.search(text[:200])
    relocate = _frame_relocation(found.group(1) if found else None)
    errors = []
    for item in exc.errors:
        old = ".".join(str(part) for part in item["loc"])
        loc = relocate(list(item["loc"]))
        new = ".".join(str(part) for part in loc)
        message = item["msg"].replace(f"{old}: ", f"{new}: " if new else "", 1) if old else item["msg"]
        errors.append({**item, "loc": loc, "msg": message[:1].upper() + message[1:] if not new else message})
    field = ".".join(str(part) for part in errors[0]["loc"]) or None
    return type(exc)(errors[0]["msg"], field, errors=errors)


def parse_action(data: Any) -> QueryDDI | ProposeIntervention | FinishReview:
    """A typed action from a plain one (a typed one passes through). Raises ValidationError
    naming the field (``action.drug_id_2``)."""
    if isinstance(data, _ActionBase):
        return data  # type: ignore[return-value]  # every _ActionBase is one of the three
    try:
        return ACTION.validate_python(data)
    except PydanticValidationError as exc:
        raise validation_error(exc, prefix=("action",)) from None


def dump(obj: Any) -> Any:
    """The JSON-ready form of any contract value (observation, state, action, frame)."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", exclude_none=False)
    if isinstance(obj, Observation):
        return OBSERVATION.dump_python(obj)
    if isinstance(obj, State):
        return STATE.dump_python(obj)
    raise TypeError(f"not a contract value: {type(obj).__name__}")


def observation_json(obs: Observation) -> bytes:
    """The observation as compact JSON (one encoding per step serves the Step row and the reply)."""
    return OBSERVATION.dump_json(obs)


def step_body_json(observation_json: bytes, reward: float | None, done: bool) -> bytes:
    """``StepResponse`` as JSON around an observation already encoded by ``observation_json``
    (the same bytes ``StepResponse.model_dump_json`` gives: a test holds them equal)."""
    return b'{"observation":' + observation_json + b',"reward":' + _number(reward) + b',"done":' + (b"true" if done else b"false") + b"}"


def _number(value: float | None) -> bytes:
    # repr is what JSON encoders write for a float (the contract's floats are finite).
    return b"null" if value is None else repr(float(value)).encode()


# ── schemas ─────────────────────────────────────────────────────────────────
def action_json_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """The action's JSON schema: the discriminated union, plus every field listed flat under
    ``properties`` (as OpenEnv's own servers publish an action) so form builders work."""
    schema = ACTION.json_schema(ref_template=ref_template)
    properties: dict[str, Any] = {"action_type": {"type": "string", "enum": list(ACTION_TYPES)}}
    for model in ACTION_MODELS.values():
        for name, prop in model.model_json_schema(ref_template=ref_template)["properties"].items():
            if name != "action_type":
                properties.setdefault(name, prop)
    return {
        "title": "PolypharmacyAction",
        "description": "One of the three actions, chosen by action_type (" + ", ".join(ACTION_TYPES) + ").",
        "type": "object",
        "properties": properties,
        "required": ["action_type"],
        **schema,
    }


def observation_json_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    return {**OBSERVATION.json_schema(ref_template=ref_template), "title": "PolypharmacyObservation"}


def state_json_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    return {**STATE.json_schema(ref_template=ref_template), "title": "PolypharmacyState"}


def tool_arguments_model(action_type: str) -> type[BaseModel]:
    """An MCP tool's arguments: the action's own fields (not ``action_type``) plus
    ``episode_id``; built from the action model, so the two cannot drift."""
    model = ACTION_MODELS[action_type]
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in model.model_fields.items()
        if name not in ("action_type", "metadata") and not info.exclude
    }
    fields["episode_id"] = (Key | None, Field(default=None, description="Defaults to the MCP session's episode, "
                                                    "else your most recent open episode."))
    return create_model(f"{action_type}_arguments", __config__=ConfigDict(extra="forbid", strict=True),
                        __doc__=model.__doc__, **fields)
