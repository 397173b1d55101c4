"""The fast retraining (``bandits.training.fit``) against the plain autograd loop it replaces."""

import pytest
import torch
from torch import nn

from bandits.datasets import make_dataset
from bandits.training import FitSettings, SparseRows, fit


def _plain_fit(net, X, rows, y, s: FitSettings, generator) -> float:
    """The textbook loop: nn.Sequential forward, autograd, torch.optim.Adam, reduce-on-plateau,
    best epoch kept (what OptimNeuralTS ran before ``fit``)."""
    opt = torch.optim.Adam(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=s.plateau_factor,
                                                       patience=s.plateau_patience)
    xs, best, best_state = X[rows], float("inf"), None
    for _ in range(s.epochs):
        perm = torch.randperm(len(y), generator=generator)
        total = 0.0
        for i in range(0, len(y), s.batch_size):
            b = perm[i : i + s.batch_size]
            opt.zero_grad()
            loss = torch.mean((net(xs[b]).squeeze(-1) - y[b]) ** 2)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        sched.step(total / len(y))
        if total / len(y) < best:
            best = total / len(y)
            if s.keep_best_epoch:
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return best


@pytest.mark.parametrize("keep_best", [True, False])
def test_fit_matches_the_autograd_loop(keep_best):
    torch.set_num_threads(1)
    ds = make_dataset("protective", n_drugs=120, n_combinations=2000, n_patterns=3, drug_prob=0.05, seed=1)
    X = torch.as_tensor(ds.X, dtype=torch.float32)
    rows = torch.randint(0, len(X), (700,), generator=torch.Generator().manual_seed(0))
    y = torch.as_tensor(ds.rr, dtype=torch.float32)[rows]
    # patience 1 and a last partial batch (700 = 10 x 64 + 60) exercise the plateau and the tail
    s = FitSettings(epochs=12, batch_size=64, lr=0.01, weight_decay=1 / 700, plateau_patience=1,
                    keep_best_epoch=keep_best)
    torch.manual_seed(3)
    ref = nn.Sequential(nn.Linear(120, 32), nn.ReLU(), nn.Linear(32, 1))
    ours = nn.Sequential(nn.Linear(120, 32), nn.ReLU(), nn.Linear(32, 1))
    ours.load_state_dict(ref.state_dict())
    ref_loss = _plain_fit(ref, X, rows, y, s, torch.Generator().manual_seed(5))
    loss = fit(ours, SparseRows(X), rows, y, s, torch.Generator().manual_seed(5))
    assert loss == pytest.approx(ref_loss, rel=1e-4) and loss < 0.5 * float(y.var())
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fit_is_deterministic_and_sparse_gather_is_exact():
    ds = make_dataset("protective", n_drugs=80, n_combinations=500, n_patterns=2, drug_prob=0.06, seed=2)
    X = torch.as_tensor(ds.X, dtype=torch.float32)
    data = SparseRows(X)
    rows = torch.tensor([4, 0, 499, 4, 17])
    cols, offsets, bag = data.gather(rows)
    for k, r in enumerate(rows.tolist()):
        assert cols[bag == k].tolist() == X[r].nonzero().squeeze(1).tolist()
        assert int(offsets[k]) == int((bag < k).sum())
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(80, 16), nn.ReLU(), nn.Linear(16, 1))
        fit(net, data, torch.arange(300), torch.as_tensor(ds.rr[:300], dtype=torch.float32),
            FitSettings(epochs=3), torch.Generator().manual_seed(0))
        nets.append(net)
    for a, b in zip(*(n.parameters() for n in nets)):
        assert torch.equal(a, b)
