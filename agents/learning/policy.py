"""A masked MLP actor-critic (shared trunk) and its checkpoint file.

Invalid actions get a large negative logit before the softmax, so they have probability ~0
(exactly 0 after float underflow) and ``greedy`` never picks them. Checkpoints are plain data
(state_dict tensors, dicts, lists, numbers, strings) written with ``torch.save`` and read back
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.learning.pairwise import PairwiseTrunk, hierarchical_logits

CHECKPOINT_FORMAT = 1
MASKED_LOGIT = -1e9


ARCHITECTURES = ("mlp", "pairwise")


@dataclass(frozen=True)
class PolicyConfig:
    """``arch`` "mlp": layers of ``hidden`` over the adapter's vector. "pairwise"
    (``agents.learning.pairwise``): drug and pair tokens of width ``hidden[0]``, with a learned
    embedding of width ``embed`` per drug of ``drug_ids`` (the catalog's drugs, in the order the
    observation's drug indices count them); its ``obs_size`` includes the learner's extras
    (``agents.learning.encoding.learner_extras``)."""

    obs_size: int
    n_actions: int
    hidden: tuple[int, ...] = (256, 256)
    arch: str = "mlp"
    drug_ids: tuple[str, ...] = ()
    embed: int = 32

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"Unknown architecture {self.arch!r}; expected one of {', '.join(ARCHITECTURES)}")

    def drug_index(self) -> dict[str, int] | None:
        """Drug id -> its place in ``drug_ids`` (``learner_extras``' index), None for the MLP."""
        return {d: i for i, d in enumerate(self.drug_ids)} if self.arch == "pairwise" else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["drug_ids"] = list(self.drug_ids)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PolicyConfig":
        # Checkpoints written before the pairwise network have no arch: they are MLPs.
        return cls(obs_size=int(d["obs_size"]), n_actions=int(d["n_actions"]), hidden=tuple(int(h) for h in d["hidden"]),
                   arch=str(d.get("arch", "mlp")), drug_ids=tuple(str(x) for x in d.get("drug_ids", ())),
                   embed=int(d.get("embed", 32)))


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits with invalid actions (mask == 0) set to a large negative number."""
    return torch.where(mask.bool(), logits, torch.full_like(logits, MASKED_LOGIT))


class Policy:
    """The categorical distribution over masked logits: the tensors ``torch.distributions.Categorical``
    computes (normalised log-probabilities, probabilities, the log-probability of an action), equal
    to the bit, without its argument validation, which cost more than the network's forward pass
    at every rollout step and minibatch."""

    __slots__ = ("log_probs", "_probs")

    def __init__(self, logits: torch.Tensor) -> None:
        self.log_probs = logits - logits.logsumexp(-1, keepdim=True)
        self._probs: torch.Tensor | None = None

    @property
    def probs(self) -> torch.Tensor:
        # Built on first use, as Categorical does: the order the autograd graph is built in sets
        # the order gradients are summed in, so this keeps training bit-identical to it.
        if self._probs is None:
            self._probs = torch.softmax(self.log_probs, -1)
        return self._probs

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.multinomial(self.probs, 1, generator=generator).squeeze(-1)

    def entropy(self, mask: torch.Tensor) -> torch.Tensor:
        """Entropy over the valid actions only (a masked action's p≈0 · log p≈-1e9 is left out)."""
        return -(self.probs * torch.where(mask, self.log_probs, torch.zeros_like(self.log_probs))).sum(-1)


class ActorCritic(nn.Module):
    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        if config.arch == "pairwise":
            self.pairwise = PairwiseTrunk(len(config.drug_ids), config.hidden[0], config.embed)
            return
        layers: list[nn.Module] = []
        size = config.obs_size
        for h in config.hidden:
            layers += [nn.Linear(size, h), nn.Tanh()]
            size = h
        self.trunk = nn.Sequential(*layers)
        self.pi = nn.Linear(size, config.n_actions)
        self.v = nn.Linear(size, 1)
        for m in self.trunk:
            if isinstance(m, nn.Linear):
                nn.init.orthogonal_(m.weight, gain=2**0.5)
                nn.init.zeros_(m.bias)
        nn.init.orthogonal_(self.pi.weight, gain=0.01)
        nn.init.zeros_(self.pi.bias)
        nn.init.orthogonal_(self.v.weight, gain=1.0)
        nn.init.zeros_(self.v.bias)

    def forward(self, obs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked logits, value)."""
        logits, value, _rewards = self.forward_all(obs, mask)
        return logits, value

    def forward_all(self, obs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(masked logits, value, predicted step rewards): the pairwise network's reward model
        (``agents.learning.pairwise``); the MLP has none."""
        if self.config.arch == "pairwise":
            within, kind, value, rewards = self.pairwise(obs)
            return hierarchical_logits(within, kind, mask, MASKED_LOGIT), value, rewards
        h = self.trunk(obs)
        return masked_logits(self.pi(h), mask), self.v(h).squeeze(-1), None

    def distribution(self, obs: torch.Tensor, mask: torch.Tensor) -> tuple["Policy", torch.Tensor]:
        logits, value = self(obs, mask)
        return Policy(logits), value

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray | torch.Tensor,
        mask: np.ndarray | torch.Tensor,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> np.ndarray | int:
        """Actions for a batch (2-D input → array) or one observation (1-D → int).

        Greedy takes the arg-max of the masked logits; otherwise samples (with ``generator``
        when given, for reproducibility)."""
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        mask_t = torch.as_tensor(np.asarray(mask)).bool()
        single = obs_t.dim() == 1
        if single:
            obs_t, mask_t = obs_t.unsqueeze(0), mask_t.unsqueeze(0)
        logits, _ = self(obs_t, mask_t)
        if greedy:
            actions = logits.argmax(-1)
        else:
            probs = torch.softmax(logits, -1)
            actions = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        out = actions.numpy()
        return int(out[0]) if single else out


def save_checkpoint(
    path: str | Path,
    model: ActorCritic,
    *,
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write the model and its metadata (plain data only) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "policy_config": model.config.to_dict(),
        "obs_size": model.config.obs_size,
        "n_actions": model.config.n_actions,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "train_config": train_config or {},
        "metrics": metrics or {},
    }
    torch.save(payload, path)
    return path


def load_checkpoint(path: str | Path) -> tuple[ActorCritic, dict[str, Any]]:
    """(model in eval mode, the whole payload: train_config, metrics, sizes)."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"Unsupported checkpoint format {payload.get('format')!r}")
    model = ActorCritic(PolicyConfig.from_dict(payload["policy_config"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload
