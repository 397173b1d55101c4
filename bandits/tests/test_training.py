"""The fast retraining (``bandits.training.fit``) against the plain autograd loop it replaces."""

import pytest
import torch
from torch import nn

from bandits.datasets import make_dataset
from bandits.training import FitSettings, SparseRows, fit, lds_weights, plain_fit


@pytest.mark.parametrize("keep_best,dense", [(True, False), (False, False), (True, True)])
def test_fit_matches_the_autograd_loop(keep_best, dense):
    """Sparse rows (the CPU path) and dense products (the CUDA path, run here on the CPU)."""
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
    ref_loss = plain_fit(ref, X, rows, y, s, torch.Generator().manual_seed(5))
    loss = fit(ours, SparseRows(X, dense=dense), rows, y, s, torch.Generator().manual_seed(5))
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


def test_lds_weights_balance_rare_rewards():
    """Label distribution smoothing: a row's weight is 1 / (Gaussian-smoothed count of its 0.1-wide
    reward bin), so 10 rows of RR 2.5 weigh as much in all as 90 rows of RR 0.15."""
    y = torch.tensor([0.15] * 90 + [2.5] * 10)
    w = lds_weights(y)
    assert torch.allclose(w[:90], torch.full((90,), 1 / 90)) and torch.allclose(w[90:], torch.full((10,), 1 / 10))
    # neighbouring bins share their counts through the kernel exp(-k^2 / 8)
    w2 = lds_weights(torch.tensor([0.15] * 50 + [0.25] * 50))
    assert torch.allclose(w2, torch.full((100,), 1 / (50 + 50 * float(torch.exp(torch.tensor(-1 / 8))))))


def test_lds_fit_draws_rare_rows_and_keeps_best_on_plain_mse():
    ds = make_dataset("protective", n_drugs=80, n_combinations=1500, n_patterns=2, drug_prob=0.06, seed=4)
    X = torch.as_tensor(ds.X, dtype=torch.float32)
    y = torch.as_tensor(ds.rr, dtype=torch.float32)
    rows = torch.arange(1500)
    losses = {}
    for sampling in ("uniform", "lds"):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(80, 32), nn.ReLU(), nn.Linear(32, 1))
        s = FitSettings(epochs=15, weight_decay=1 / 1500, sampling=sampling)
        losses[sampling] = fit(net, SparseRows(X), rows, y, s, torch.Generator().manual_seed(0))
        with torch.no_grad():
            pred = net(X).squeeze(1)
        high = y > 1.1
        losses[sampling + "_high"] = float(((pred - y)[high] ** 2).mean())
        # the returned loss of the lds fit is the plain MSE over all rows of the kept parameters
        if sampling == "lds":
            assert losses["lds"] == pytest.approx(float(((pred - y) ** 2).mean()), rel=1e-4)
    # reweighting trades some error on the common low risks for less on the rare high ones
    assert losses["lds_high"] < losses["uniform_high"]
    with pytest.raises(ValueError, match="sampling"):
        fit(net, SparseRows(X), rows, y, FitSettings(epochs=1, sampling="nope"), torch.Generator())


def test_early_stopping_stops_after_patience_epochs(monkeypatch):
    X = torch.eye(4)
    y = torch.zeros(4)  # already optimal at zero weights: no epoch improves on the first
    net = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        for p_ in net.parameters():
            p_.zero_()
    calls = []  # one scheduler step per epoch
    monkeypatch.setattr(torch.optim.lr_scheduler.ReduceLROnPlateau, "step", lambda self, m: calls.append(m))
    fit(net, SparseRows(X), torch.arange(4), y, FitSettings(epochs=50, early_stop_patience=3), torch.Generator())
    assert len(calls) == 4  # the first epoch, then three without progress
