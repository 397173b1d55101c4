"""Agents by name: ``resolve_agent("heuristic")`` → (policy, label). Pure Python, no Django.

A policy has the signature of ``agents.policies``: ``policy(observation: dict, *, catalog, rng)
-> action dict``. The label is what a log calls the agent (the ``model=`` of a ``[START]`` line).

Specs:
- ``random``, ``heuristic``: the baselines of ``agents.policies``.
- ``llm``: ``agents.llm.llm_policy()``, configured by the ``LLM_*`` variables, labelled by
  ``LLM_MODEL``; unconfigured it falls back to the rule-based suggester, labelled
  ``llm:heuristic-fallback``.
- ``oracle`` / ``oracle:<width>``: ``agents.oracle``, the full-information planner (it reads the
  catalog's interaction rules, which no other agent sees), by beam search of ``width`` (default
  16); labelled ``oracle:<width>``. The ceiling of the normalised score, not a baseline.
- ``policy:<checkpoint>``: a PPO checkpoint (``agents.learning``), named by a file path, or by a
  name that ``checkpoint_resolver`` turns into a path (the site passes one that knows its stored
  checkpoints; without it only paths work).

The learned and LLM agents are imported only when asked for: torch costs seconds to import,
and the baselines must not need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from agents.learned import checkpoint_policy
from agents.oracle import DEFAULT_WIDTH, OraclePolicy
from agents.policies import POLICIES, RULE_BASED, Policy

POLICY_PREFIX = "policy:"
ORACLE = "oracle"
MAX_ORACLE_WIDTH = 64  # a complex_tradeoff episode costs about 1.3 s of CPU at 64
AGENT_SPECS = ("random", "heuristic", "llm", "oracle[:<width>]", "policy:<checkpoint>")
AGENT_SPECS_HELP = (
    "random | heuristic | llm | oracle[:<width>] | policy:<checkpoint> — oracle is the "
    "full-information planner (it reads the interaction rules; width 16 unless given); "
    "<checkpoint> is a checkpoint file's path or, on the site, a stored checkpoint's name or id"
)
# The same for the site's forms and job parameters, where a policy is a stored checkpoint's name.
SITE_AGENT_HELP = ("random, heuristic, llm, oracle[:<width>] (the full-information planner: it reads the "
                   "interaction rules), or policy:<checkpoint name>")


@dataclass(frozen=True)
class BuiltinAgent:
    name: str  # the spec: run_agent --agent, an evaluation job's "agent"
    label: str  # the evaluation form's picker
    suggester: str = ""  # its name as a review page's suggester ("": not one)


# The agents that need nothing stored, in the pickers' order. A trained policy is
# ``policy_agent(<checkpoint name>)``; the review page's third suggester is one.
BUILTIN_AGENTS: tuple[BuiltinAgent, ...] = (
    BuiltinAgent("heuristic", "heuristic (rule-based baseline)", suggester=RULE_BASED),
    BuiltinAgent("random", "random (the normalised score's floor)"),
    BuiltinAgent("llm", "llm (rule-based fallback without a key)", suggester="llm"),
    BuiltinAgent("oracle", "oracle (full-information planner: reads the rules; the ceiling)"),
)


def policy_agent(checkpoint: str) -> str:
    """The agent (and suggester) name of a stored policy checkpoint: ``policy:<checkpoint>``."""
    return f"{POLICY_PREFIX}{checkpoint}"


def policy_checkpoint(spec: str) -> str | None:
    """The checkpoint a ``policy:<checkpoint>`` name names; None for any other agent."""
    return spec[len(POLICY_PREFIX):] if spec.startswith(POLICY_PREFIX) else None


def builtin_agent(spec: str) -> bool:
    """Whether ``spec`` names an agent that needs nothing stored (no checkpoint): what a form or
    a job's parameters can accept without a lookup. Raises ValueError for a bad oracle width."""
    spec = spec.strip()
    if spec in POLICIES or spec == "llm":
        return True
    if spec == ORACLE or spec.startswith(ORACLE + ":"):
        oracle_width(spec)
        return True
    return False


def oracle_width(spec: str) -> int:
    """The search width an ``oracle[:<width>]`` spec names."""
    _, _, text = spec.strip().partition(":")
    if not text:
        return DEFAULT_WIDTH
    if not text.isdigit() or not 1 <= int(text) <= MAX_ORACLE_WIDTH:
        raise ValueError(f"The oracle's width must be a whole number from 1 to {MAX_ORACLE_WIDTH}, not {text!r}.")
    return int(text)

CheckpointResolver = Callable[[str], Path]


def resolve_agent(spec: str, *, checkpoint_resolver: CheckpointResolver | None = None) -> tuple[Policy, str]:
    """The policy named by ``spec`` and its label.

    Raises ValueError, with a message naming the allowed forms or what went wrong with the
    checkpoint, for an unknown spec, a checkpoint that cannot be found, or one that cannot be
    loaded."""
    spec = spec.strip() if isinstance(spec, str) else ""
    if spec in POLICIES:
        return POLICIES[spec], spec
    if spec == "llm":
        return _llm_agent()
    if spec == ORACLE or spec.startswith(ORACLE + ":"):
        oracle = OraclePolicy(oracle_width(spec))
        return oracle, oracle.label
    if spec.startswith(POLICY_PREFIX):
        return _checkpoint_agent(spec[len(POLICY_PREFIX):].strip(), checkpoint_resolver)
    raise ValueError(f"Unknown agent {spec!r}: use one of {', '.join(AGENT_SPECS)} ({AGENT_SPECS_HELP}).")


def _llm_agent() -> tuple[Policy, str]:
    from agents.llm import llm_policy

    policy = llm_policy()  # a bad LLM_* variable raises ValueError naming it
    # Labelled by the model, as the reference's log names MODEL_NAME; unconfigured, the policy is
    # the rule-based suggester and the label says so.
    model = getattr(getattr(policy, "config", None), "model", None)
    return policy, str(model) if model else "llm:heuristic-fallback"


def checkpoint_file(target: str, checkpoint_resolver: CheckpointResolver | None = None) -> Path:
    """The checkpoint file ``target`` names: an existing file path, else what the resolver says.

    Raises ValueError when neither finds it."""
    if not target:
        raise ValueError(f"policy: needs a checkpoint, e.g. policy:var/checkpoints/ppo.pt ({AGENT_SPECS_HELP}).")
    path = Path(target).expanduser()
    if path.is_file():
        return path
    if checkpoint_resolver is None:
        raise ValueError(f"No checkpoint file {target!r} (only file paths work here, not checkpoint names).")
    try:
        resolved = Path(checkpoint_resolver(target))
    except LookupError as exc:
        reason = exc.args[0] if exc.args else f"no checkpoint named {target!r}"
        raise ValueError(f"No checkpoint file or stored checkpoint {target!r}: {reason}") from exc
    if not resolved.is_file():
        raise ValueError(f"Checkpoint {target!r} resolves to {str(resolved)!r}, which is not a file.")
    return resolved


def _checkpoint_agent(target: str, checkpoint_resolver: CheckpointResolver | None) -> tuple[Policy, str]:
    path = checkpoint_file(target, checkpoint_resolver)
    try:
        policy = checkpoint_policy(path)
    except Exception as exc:  # torch reports a bad file in several ways (pickle, zip, format, shapes)
        raise ValueError(f"Cannot load checkpoint {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    return policy, f"{POLICY_PREFIX}{target}"
