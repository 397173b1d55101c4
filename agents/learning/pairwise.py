"""A pairwise actor-critic: the drugs of the regimen as tokens, every pair of them as a token,
and a memory of the interaction rules its queries have found.

Why this shape: a regimen's risk is a sum over its drugs (Beers flags, high-risk status) and over
its pairs (interaction rules), and the adapter's flat vector says which pairs interact only once
they are queried in the episode. The catalog is fixed, so the rules can be learned:

- each drug gets a learned embedding (its identity is public: the observation names every drug);
- the **interaction memory** holds, per pair of drugs, the answer a query of that pair got during
  training (the rules are deterministic: one answer is the rule). It is learned from the agent's
  own queries, never read from the catalog, and is saved with the weights;
- a pair's token is built from its two drugs (their features and embeddings), the pair's query in
  this episode and the memory's entry, so "these two interact, and a dose reduction answers it"
  applies wherever they meet, in any slot. Each drug then sums the tokens of the pairs it is in,
  and the heads read what they act on: a pair's query from the pair's token, a drug's four
  interventions from the drug's token, the finish and the value from the regimen pooled;
- the policy picks a kind of action (query, intervene, finish), then one action of that kind
  (``hierarchical_logits``).

The input is the adapter's vector (``envcore.gym_env``: per slot, per pair, global features)
followed by ``agents.learning.encoding.learner_extras``: each slot's drug index (0 for an empty
slot, 1… the ``PolicyConfig.drug_ids`` vocabulary, the last index for a drug outside it), each
slot's "needed" flag, and what the graders count of the episode so far. The output is the
adapter's action order: the pair queries, four interventions per slot, finish.

Measured on classic, 200k steps, test seeds 10000–10099 (the planner, which reads the rules:
0.593 on complex_tradeoff, 0.919 on budgeted_screening): the 256-256 MLP on the adapter's vector
0.43 and 0.75 (README, 300k and 600k steps); this network without the memory 0.50 and 0.72; with
the memory but no prior toward asking 0.52 and 0.71 (it stopped asking early, when its queries
were guesses: a discovering query pays on budgeted_screening only in the final grade, 0.2 of it);
with the memory, the kind-first policy and its prior, and the episode's history 0.565 and 0.909.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from agents.learning.encoding import HISTORY_FEATURES, LEARNER_EXTRAS
from envcore.contract import INTERVENTION_TYPES
from envcore.gym_env import (
    FINISH_ACTION, GLOBAL_FEATURES, MAX_SLOTS, N_ACTIONS, N_QUERY, OBS_SIZE, PAIR_FEATURES, PAIRS, SLOT_FEATURES,
    record_query,
)

_SLOT_END = MAX_SLOTS * SLOT_FEATURES
_PAIR_END = _SLOT_END + N_QUERY * PAIR_FEATURES
_N_TYPES = len(INTERVENTION_TYPES)
MEMORY_FEATURES = PAIR_FEATURES  # the adapter's pair row, column 0 read as "known"
# Where the learned weights of the two priors start. The memory's "there is a known interacting
# pair to ask about" starts at two logits toward asking. The reward model's prediction starts at
# 0: it is learned (an auxiliary task that shapes the drug and pair tokens) and may earn weight,
# but a head start made the policy myopic where a drug change pays now and costs at the end (on
# complex_tradeoff, stopping a critical drug: +0.075 at once, -0.2 in the grade): validation
# score 0.51 with a start of 20 against 0.56 with 0, after 120k steps on classic complex_tradeoff.
QUERY_KIND = 2.0
REWARD_WEIGHT = 0.0
_DRUG_FEATURES = SLOT_FEATURES + 1  # the adapter's slot features and the "needed" flag


def _linear(n_in: int, n_out: int, gain: float = 2**0.5) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


class PairwiseTrunk(nn.Module):
    """(logits within each kind, kind logits, value, predicted step rewards) from the learner's
    observation."""

    memory: torch.Tensor  # buffers, named for the type checker (register_buffer sets them)
    first: torch.Tensor
    second: torch.Tensor
    incidence: torch.Tensor
    first_slot: torch.Tensor
    second_slot: torch.Tensor

    def __init__(self, n_drugs: int, hidden: int, embed: int, pair_width: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_drugs + 2, embed)  # 0: empty slot; n_drugs + 1: unknown drug
        nn.init.normal_(self.embed.weight, std=0.5)
        # The interaction memory: what the queries made in training answered, per pair of drugs
        # ([known, severity none/mild/moderate/severe, recommendation ×3], zeros until asked).
        # The rules are deterministic, so one answer is the rule: this is the catalog learned
        # from queries, kept in the checkpoint with the weights (``remember``).
        self.register_buffer("memory", torch.zeros(n_drugs + 2, n_drugs + 2, MEMORY_FEATURES))
        self.glob = _linear(GLOBAL_FEATURES + HISTORY_FEATURES, hidden)
        self.slot = _linear(_DRUG_FEATURES + embed, hidden)
        # A pair's token: what each drug brings (a per-drug projection, summed) and what they do
        # together (the product of their embeddings, the pair's query in this episode and what
        # the memory says of the pair). Pairs are many (105 per regimen), so their tokens are narrow.
        self.pair_each = _linear(_DRUG_FEATURES + embed, pair_width)
        self.pair_both = _linear(embed + PAIR_FEATURES + MEMORY_FEATURES, pair_width)
        self.drug = _linear(hidden + pair_width, hidden)
        self.context = _linear(2 * hidden + pair_width, hidden)
        # Heads on [token, context] as sums of two linear maps: the same function as one layer on
        # the concatenation, without copying the context next to each of the 105 pairs.
        self.intervene_drug = _linear(hidden, hidden)
        self.intervene_context = _linear(hidden, hidden)
        self.intervene = _linear(hidden, _N_TYPES, gain=0.01)
        self.query_pair = _linear(pair_width, 1, gain=0.01)
        self.query_context = _linear(hidden, 1, gain=0.01)
        # Ask about the pairs the memory knows to interact, not about those it knows do not:
        # learned weights, started where a known answer is worth a few logits.
        self.query_memory = nn.Parameter(torch.tensor([2.0, -2.0]))  # (interacts, known)
        self.finish = _linear(hidden, 1, gain=0.01)
        self.value = nn.Sequential(_linear(hidden, hidden), nn.Tanh(), _linear(hidden, 1, gain=1.0))
        # Which kind of action (query, intervene, finish), then which one of that kind
        # (``hierarchical_logits``): "ask something" is one decision, learned once, instead of
        # the sum of 105 pair logits that an early run of bad guesses pushes down together.
        self.kind = _linear(hidden, 3, gain=0.01)
        self.query_kind = nn.Parameter(torch.tensor(QUERY_KIND))
        # A one-step reward model: what each query and intervention would earn now, trained on
        # the rewards of the actions taken (``agents.learning.ppo``). Its prediction, times a
        # learned weight, is added to the action's logit: try first what paid before.
        self.reward_query = _linear(pair_width, 1, gain=0.01)
        self.reward_drug = _linear(hidden, _N_TYPES, gain=0.01)
        self.reward_weight = nn.Parameter(torch.tensor(REWARD_WEIGHT))
        # Gathers as products with 0/1 matrices: their gradients are matrix products too, which
        # stay fast under torch's deterministic mode (an indexed gather's backward does not).
        first = torch.zeros(N_QUERY, MAX_SLOTS)
        second = torch.zeros(N_QUERY, MAX_SLOTS)
        for k, (i, j) in enumerate(PAIRS):
            first[k, i] = second[k, j] = 1.0
        self.register_buffer("first", first, persistent=False)
        self.register_buffer("second", second, persistent=False)
        self.register_buffer("incidence", (first + second).T.contiguous() / MAX_SLOTS, persistent=False)
        self.register_buffer("first_slot", torch.tensor([i for i, _ in PAIRS]), persistent=False)
        self.register_buffer("second_slot", torch.tensor([j for _, j in PAIRS]), persistent=False)

    @torch.no_grad()
    def remember(self, answers: list[tuple[int, int, str, str]]) -> None:
        """Write query answers (drug index, drug index, severity, recommendation; indices as in
        the observation) into the memory, both ways round."""
        for a, b, severity, recommendation in answers:
            row = np.zeros(PAIR_FEATURES, dtype=np.float32)
            record_query(row, severity, recommendation)
            row[0] = 1.0  # known (the adapter's column 0 is "not queried")
            self.memory[a, b] = self.memory[b, a] = torch.from_numpy(row)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = obs.shape[0]
        slots = obs[:, :_SLOT_END].reshape(batch, MAX_SLOTS, SLOT_FEATURES).transpose(0, 1)  # (S, B, F)
        pairs = obs[:, _SLOT_END:_PAIR_END].reshape(batch, N_QUERY, PAIR_FEATURES).transpose(0, 1)  # (P, B, 8)
        glob = torch.cat([obs[:, _PAIR_END:OBS_SIZE], obs[:, OBS_SIZE + 2 * MAX_SLOTS:OBS_SIZE + LEARNER_EXTRAS]], -1)
        ids = obs[:, OBS_SIZE:OBS_SIZE + MAX_SLOTS].long().T  # (S, B)
        needed = obs[:, OBS_SIZE + MAX_SLOTS:OBS_SIZE + 2 * MAX_SLOTS].T.unsqueeze(-1)  # (S, B, 1)
        slots = torch.cat([slots, needed], -1)
        present = slots[:, :, 0:1]  # (S, B, 1)
        e = self.embed(ids)  # (S, B, E)
        drug_in = torch.cat([slots, e], -1)  # (S, B, F + E)
        g = torch.tanh(self.glob(glob))  # (B, H)
        tokens = torch.tanh(self.slot(drug_in) + g) * present
        each = self.pair_each(drug_in)
        both = _gather(self.first, present) * _gather(self.second, present)  # (P, B, 1)
        memory = self.memory[ids[self.first_slot], ids[self.second_slot]]  # (P, B, 8)
        p = torch.tanh(_gather(self.first, each) + _gather(self.second, each)
                       + self.pair_both(torch.cat([_gather(self.first, e) * _gather(self.second, e), pairs, memory], -1))
                       ) * both  # (P, B, pair width)
        involved = _gather(self.incidence, p)  # (S, B, H): the pairs each drug is in
        drugs = torch.tanh(self.drug(torch.cat([tokens, involved], -1))) * present
        ctx = torch.tanh(self.context(torch.cat([drugs.sum(0) / MAX_SLOTS, p.sum(0) / N_QUERY, g], -1)))  # (B, H)
        per_drug = self.intervene(torch.tanh(self.intervene_drug(drugs) + self.intervene_context(ctx)))  # (S, B, 4)
        interacts = memory[:, :, 3] + memory[:, :, 4]  # moderate or severe
        queries = (self.query_pair(p).squeeze(-1) + self.query_context(ctx).squeeze(-1)
                   + self.query_memory[0] * interacts + self.query_memory[1] * memory[:, :, 0])  # (P, B)
        predicted = torch.cat([self.reward_query(p).squeeze(-1).T,
                               self.reward_drug(drugs).transpose(0, 1).reshape(batch, MAX_SLOTS * _N_TYPES),
                               torch.zeros(batch, 1)], -1)
        within = torch.cat([queries.T, per_drug.transpose(0, 1).reshape(batch, MAX_SLOTS * _N_TYPES),
                            self.finish(ctx)], -1) + self.reward_weight * predicted.detach()
        # "Is there a pair the memory knows to interact, present and not yet asked about?" feeds
        # the query kind directly: the one discovering query a budgeted review wants pays only at
        # the end, and a policy that stopped asking early (when its queries were guesses) would
        # otherwise never find out that its memory has since made them good.
        askable = (interacts * pairs[:, :, 0] * both.squeeze(-1)).amax(0)  # (B,)
        kind = self.kind(ctx) + self.query_kind * torch.stack(
            [askable, torch.zeros_like(askable), torch.zeros_like(askable)], -1)
        return within, kind, self.value(ctx).squeeze(-1), predicted


def _gather(selection: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``selection`` (M, N) applied along the first axis of ``x`` (N, B, D): one matrix product."""
    n, batch, width = x.shape
    return (selection @ x.reshape(n, batch * width)).reshape(selection.shape[0], batch, width)


_KINDS = ((0, N_QUERY), (N_QUERY, FINISH_ACTION), (FINISH_ACTION, N_ACTIONS))  # queries, interventions, finish


def hierarchical_logits(within: torch.Tensor, kind: torch.Tensor, mask: torch.Tensor, masked: float) -> torch.Tensor:
    """Log-probabilities of the actions (usable as logits) under "pick a kind among those with a
    valid action, then a valid action of that kind"; ``masked`` for invalid actions."""
    mask = mask.bool()
    within = torch.where(mask, within, torch.full_like(within, masked))
    parts, kind_valid = [], []
    for start, stop in _KINDS:
        parts.append(torch.log_softmax(within[:, start:stop], -1))
        kind_valid.append(mask[:, start:stop].any(-1))
    kind = torch.where(torch.stack(kind_valid, -1), kind, torch.full_like(kind, masked))
    kind_logp = torch.log_softmax(kind, -1)
    out = torch.cat([part + kind_logp[:, k:k + 1] for k, part in enumerate(parts)], -1)
    return torch.where(mask, out, torch.full_like(out, masked))
