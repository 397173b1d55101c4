"""The LLM action suggester: any OpenAI-compatible chat endpoint proposes the next action.

Pure Python, no Django (the review pages and a Celery job wrap it). The prompt is
``envcore.render``'s: the whole wire observation (query results, budgets, interventions, the last
error), the same-class substitutes of each drug, the rules and the action schema; the same
rendering is served by ``GET /render`` and read by the TRL environment class. The answer is checked twice before it is used: against
the action schema (``envcore.contract.parse_action``) and against the regimen
(``action_refusal``: envcore.refusal, the rules the environment itself applies). Whenever
anything goes wrong — unconfigured, unreachable, slow, an HTTP error, a malformed or unsafe
answer — the rule-based suggester (``agents.policies.heuristic_policy``) answers instead, with
the reason; ``llm_suggest`` never raises.

The API key goes into the Authorization header and nowhere else: not into reasons, logs, raw
answers or the config's repr.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Protocol

from agents.policies import RULE_BASED, Action, heuristic_policy
from envcore.contract import parse_action
from envcore.catalog import Catalog
from envcore.errors import ValidationError
from envcore.refusal import intervention_refusal, query_refusal
from envcore.regimen import Med
from envcore.render import prompt_messages

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_TOKENS = 512
MAX_RESPONSE_BYTES = 1024 * 1024  # a chat completion of one action is a few kB
MAX_RAW_CHARS = 4000  # what a Suggestion keeps of the model's text
MAX_DETAIL_CHARS = 200  # what a reason quotes of an endpoint's error message
NOT_CONFIGURED = "LLM not configured (LLM_API_BASE and LLM_MODEL are not both set)."


class Opener(Protocol):
    """What ``llm_suggest`` sends requests through (``urllib.request.OpenerDirector`` fits)."""

    def open(self, fullurl: urllib.request.Request, data: bytes | None = None, timeout: float = ...) -> Any: ...


# ── configuration ───────────────────────────────────────────────────────────
@dataclass(frozen=True)
class LLMConfig:
    """Where the suggester asks. ``api_base`` ends at the API version (``http://host:8080/v1``);
    ``api_key`` may be empty for a local server. The key is left out of the repr."""

    api_base: str
    api_key: str = field(repr=False)
    model: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_tokens: int = DEFAULT_MAX_TOKENS

    @classmethod
    def from_env(cls, environ: Mapping[str, Any] = os.environ) -> "LLMConfig | None":
        """The config from ``LLM_API_BASE``, ``LLM_API_KEY``, ``LLM_MODEL`` and ``LLM_TIMEOUT_S``.

        None when ``LLM_API_BASE`` or ``LLM_MODEL`` is unset or blank (the rule-based suggester
        answers). Raises ``ValueError`` naming the variable for a base that is not an http(s) URL
        or a timeout that is not a positive number of seconds."""
        api_base = str(environ.get("LLM_API_BASE") or "").strip().rstrip("/")
        model = str(environ.get("LLM_MODEL") or "").strip()
        if not api_base or not model:
            return None
        # urllib would also open file:// and ftp:// URLs; the endpoint must be HTTP.
        if not api_base.startswith(("http://", "https://")):
            raise ValueError(f"LLM_API_BASE={api_base!r}: expected an http:// or https:// URL")
        return cls(
            api_base=api_base,
            api_key=str(environ.get("LLM_API_KEY") or "").strip(),
            model=model,
            timeout_s=_timeout_from(environ.get("LLM_TIMEOUT_S")),
        )


LLM_SETTINGS = ("LLM_API_BASE", "LLM_API_KEY", "LLM_MODEL", "LLM_TIMEOUT_S")


def llm_config_from(settings: Any) -> LLMConfig | None:
    """The site's one LLM configuration, for the review pages' suggester and the llm_suggest
    job alike, from an object with the ``LLM_*`` attributes (Django's settings). None when it is
    not configured, or misconfigured: the site's settings refuse a bad value at start-up, but an
    override (a test's, a shell's) may not, and the rule-based suggester then answers."""
    try:
        return LLMConfig.from_env({name: getattr(settings, name, "") for name in LLM_SETTINGS})
    except ValueError as exc:
        log.warning("LLM suggestions are off: %s", exc)
        return None


def _timeout_from(raw: Any) -> float:
    if raw is None or str(raw).strip() == "":
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"LLM_TIMEOUT_S={raw!r}: expected a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"LLM_TIMEOUT_S={raw!r}: expected a number of seconds greater than 0")
    return value


# ── checking the answer ─────────────────────────────────────────────────────
class LLMAnswerError(Exception):
    """An answer that cannot be used, with the action field at fault (None: the whole answer)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _first_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: models wrap answers in code fences and prose."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise LLMAnswerError("the answer holds no JSON object")


def parse_llm_action(text: str) -> Action:
    """The action in a model's answer, checked against the action schema, in canonical form.

    Tolerates code fences and surrounding prose (the first JSON object is taken) and an object
    wrapped as ``{"action": {...}}``. Raises ``LLMAnswerError`` naming the field at fault."""
    if not isinstance(text, str) or not text.strip():
        raise LLMAnswerError("the answer is empty")
    obj = _first_json_object(text)
    if set(obj) == {"action"} and isinstance(obj["action"], dict):
        obj = obj["action"]
    try:
        return parse_action(obj).to_dict()
    except ValidationError as exc:
        raise LLMAnswerError(exc.message, field=(exc.field or "").removeprefix("action.") or None) from exc


def action_refusal(action: Action, observation: Mapping[str, Any], *, catalog: Catalog) -> tuple[str, str] | None:
    """Why the environment would refuse a schema-valid ``action`` in the state ``observation``
    shows, as (field, message), or None.

    envcore's own refusal rules (``envcore.refusal``, which the environment calls too), given the
    regimen and budgets the wire observation carries, so no environment is needed. Stricter in
    two ways: a finished review takes no action, and a substitute named with another
    intervention type is refused (the environment would ignore the drug; a suggestion naming one
    would mislead the reader)."""
    if observation.get("terminated") or observation.get("truncated"):
        return "action_type", "The review has ended; it takes no more actions."
    meds = {m["drug_id"]: Med(m["drug_id"], m["dose_mg"], monitored=m["monitored"])
            for m in observation["current_medications"]}
    if action["action_type"] == "query_ddi":
        return query_refusal(action["drug_id_1"], action["drug_id_2"], regimen=meds,
                             remaining_queries=observation["remaining_query_budget"])
    if action["action_type"] == "propose_intervention":
        kind, proposed = action["intervention_type"], action.get("proposed_new_drug_id")
        refused = intervention_refusal(action["target_drug_id"], kind, proposed, meds=meds,
                                       remaining_interventions=observation["remaining_intervention_budget"],
                                       catalog=catalog)
        if refused is None and proposed is not None and kind != "substitute":
            return "proposed_new_drug_id", "A substitute only goes with the intervention 'substitute'."
        return refused
    return None


# ── the call ────────────────────────────────────────────────────────────────
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are errors: following one would carry the request (and its key) elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _EndpointError(Exception):
    """A failed call, with a reason that is safe to show (never the key)."""


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def _chat_request(config: LLMConfig, messages: list[dict[str, str]]) -> urllib.request.Request:
    body = json.dumps({
        "model": config.model, "messages": messages, "temperature": 0, "max_tokens": config.max_tokens,
    }).encode("utf-8")
    request = urllib.request.Request(
        f"{config.api_base}/chat/completions", data=body, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    if config.api_key:
        # Unredirected: never forwarded, should any handler follow a redirect.
        request.add_unredirected_header("Authorization", f"Bearer {config.api_key}")
    return request


def _read_limited(response: Any) -> bytes:
    data = response.read(MAX_RESPONSE_BYTES + 1)
    if len(data) > MAX_RESPONSE_BYTES:
        raise _EndpointError(f"the LLM endpoint's answer is larger than {MAX_RESPONSE_BYTES} bytes")
    return data


def _http_error_reason(exc: urllib.error.HTTPError) -> str:
    if exc.code in (401, 403):
        # Auth errors may quote part of the key: say what happened, quote nothing.
        return f"the LLM endpoint answered HTTP {exc.code} (it refused the API key)"
    detail = ""
    try:
        body = json.loads(exc.read(64 * 1024) or b"{}")
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        detail = f": {str(message)[:MAX_DETAIL_CHARS]}" if message else ""
    except Exception:  # an unreadable error body: the status says enough
        pass
    return f"the LLM endpoint answered HTTP {exc.code}{detail}"


def _completion_text(data: bytes) -> str:
    """``choices[0].message.content`` of an OpenAI-compatible chat completion."""
    try:
        body = json.loads(data)
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise _EndpointError("the LLM endpoint's answer is not a chat completion (no choices[0].message.content)") from None
    if not isinstance(content, str):
        raise _EndpointError("the LLM endpoint's answer has no text content")
    return content


def _call_endpoint(config: LLMConfig, messages: list[dict[str, str]], timeout_s: float, opener: Opener) -> str:
    """The model's text. Raises ``_EndpointError`` (or ``TimeoutError``) with a safe reason."""
    try:
        with opener.open(_chat_request(config, messages), timeout=timeout_s) as response:
            data = _read_limited(response)
    except urllib.error.HTTPError as exc:
        raise _EndpointError(_http_error_reason(exc)) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError() from None
        raise _EndpointError(f"could not reach the LLM endpoint ({exc.reason})") from None
    except TimeoutError:
        raise
    except (OSError, http.client.HTTPException) as exc:  # reset, refused, a broken answer
        raise _EndpointError(f"could not reach the LLM endpoint ({type(exc).__name__})") from None
    return _completion_text(data)


def _call_with_deadline(config: LLMConfig, messages: list[dict[str, str]], timeout_s: float, opener: Opener) -> str:
    """``_call_endpoint`` bounded in wall-clock time: a socket timeout bounds each read, not a
    server that trickles its answer, so the call runs in a thread that is abandoned at the
    deadline (it ends at its own socket timeout)."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["text"] = _call_endpoint(config, messages, timeout_s, opener)
        except BaseException as exc:  # handed to the caller's thread, which decides
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="llm-suggest", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout_s
    # In short waits: a job being cancelled is interrupted between two of them (jobs.watchdog),
    # not at the end of the whole timeout.
    while worker.is_alive() and time.monotonic() < deadline:
        worker.join(min(0.25, max(deadline - time.monotonic(), 0.0)))
    if worker.is_alive():
        raise TimeoutError()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["text"]


# ── suggestions ─────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Suggestion:
    """A suggested action and who answered: "llm", "rule-based" (here, with why when it stands
    in for the LLM) or "policy:<checkpoint>" (the review pages' policy suggester)."""

    action: Action
    source: str  # "llm", "rule-based", or "policy:<checkpoint>" for a trained policy's suggestion
    model: str | None
    fallback_reason: str | None
    latency_s: float
    raw: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rule_based(observation: Mapping[str, Any], catalog: Catalog) -> Action:
    # The heuristic is deterministic: the rng only fills the policy signature.
    try:
        return heuristic_policy(dict(observation), catalog=catalog, rng=random.Random(0))
    except Exception:  # an observation the heuristic cannot read: finishing is always valid
        log.exception("The rule-based suggester failed; suggesting finish_review.")
        return {"action_type": "finish_review"}


def _fallback(
    observation: Mapping[str, Any], catalog: Catalog, *, reason: str, model: str | None, started: float, raw: str | None,
) -> Suggestion:
    log.warning("LLM suggestion fell back to the rule-based suggester: %s", reason)
    return Suggestion(
        action=_rule_based(observation, catalog), source=RULE_BASED, model=model, fallback_reason=reason,
        latency_s=time.monotonic() - started, raw=raw,
    )


def _unusable_reason(exc: LLMAnswerError) -> str:
    where = f" ({exc.field})" if exc.field else ""
    return f"the LLM's action is invalid{where}: {exc.message}"


def llm_suggest(
    observation: Mapping[str, Any],
    *,
    catalog: Catalog,
    config: LLMConfig | None,
    timeout_s: float | None = None,
    opener: Opener | None = None,
) -> Suggestion:
    """Ask the LLM for the next action; fall back to the rule-based suggester on any failure.

    ``timeout_s`` (default: the config's) bounds the whole call in wall-clock time. ``opener``
    replaces the default urllib opener (which follows no redirects). Never raises (beyond
    KeyboardInterrupt and SystemExit), and never calls out when ``config`` is None."""
    started = time.monotonic()
    if config is None:
        return _fallback(observation, catalog, reason=NOT_CONFIGURED, model=None, started=started, raw=None)
    timeout = timeout_s if timeout_s is not None else config.timeout_s
    raw: str | None = None
    try:
        messages = prompt_messages(observation, catalog=catalog)
        text = _call_with_deadline(config, messages, timeout, opener or urllib.request.build_opener(_NoRedirect()))
        raw = _redact(text, config.api_key)[:MAX_RAW_CHARS]
        action = parse_llm_action(text)
        refusal = action_refusal(action, observation, catalog=catalog)
        if refusal is not None:
            raise LLMAnswerError(refusal[1], field=refusal[0])
    except TimeoutError:
        reason = f"the LLM did not answer within {timeout:g} s"
    except _EndpointError as exc:
        reason = str(exc)
    except LLMAnswerError as exc:
        reason = _unusable_reason(exc)
    except Exception as exc:  # anything else is a bug here, and still must not reach the page
        log.exception("LLM suggestion failed unexpectedly")
        reason = f"the LLM suggestion failed ({type(exc).__name__})"
    else:
        return Suggestion(
            action=action, source="llm", model=config.model, fallback_reason=None,
            latency_s=time.monotonic() - started, raw=raw,
        )
    return _fallback(
        observation, catalog, reason=_redact(reason, config.api_key), model=config.model, started=started, raw=raw,
    )


class LLMPolicy:
    """The LLM as an agent, with the project's policy signature (``agents.policies.Policy``).

    Unconfigured, it behaves as the heuristic. ``fallbacks`` counts the steps the rule-based
    suggester answered, and ``last`` is the latest suggestion, for drivers that report them."""

    def __init__(self, config: LLMConfig | None, *, timeout_s: float | None = None) -> None:
        self.config = config
        self.timeout_s = timeout_s
        self.fallbacks = 0
        self.last: Suggestion | None = None

    def __call__(self, observation: dict[str, Any], *, catalog: Catalog, rng: random.Random) -> Action:
        # rng is unused: the model is asked at temperature 0 and the fallback is deterministic.
        suggestion = llm_suggest(observation, catalog=catalog, config=self.config, timeout_s=self.timeout_s)
        self.last = suggestion
        self.fallbacks += suggestion.source != "llm"
        return suggestion.action


def llm_policy(config: LLMConfig | None = None, *, timeout_s: float | None = None) -> LLMPolicy:
    """A policy that asks the LLM each step (``config`` None: from the ``LLM_*`` variables)."""
    return LLMPolicy(config if config is not None else LLMConfig.from_env(), timeout_s=timeout_s)
