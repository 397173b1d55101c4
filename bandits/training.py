"""Retraining OptimNeuralTS's network on the pulled combinations, fast on sparse rows.

The network is ``Linear(d, h) - ReLU - Linear(h, 1)``, fitted to the observed rewards by MSE with
Adam (coupled weight decay), reduce-on-plateau and the best epoch kept.  ``fit`` computes what the
plain loop (``nn.Sequential`` + autograd + ``torch.optim.Adam``, one ``randperm`` per epoch) does,
to float rounding (see ``bandits/tests/test_training.py``), about 4x faster on one CPU core
(``bench/bandit_training.py``), which
is what lets the paper's many epochs per retraining fit on a CPU:

* a combination holds ~9 of 500 drugs, so the first layer reads only those rows of ``W1^T``
  (``embedding_bag`` over the CSR column indices) and its gradient is added to those rows only,
  instead of two dense (64 x 500) x (500 x 128) products per batch;
* forward and backward are written out (a dozen tensor ops, no autograd graph);
* all parameters live in one flat tensor, so each Adam step is one fused kernel call.

On CUDA the first-layer gradient is a dense product instead: ``index_add_`` adds floats atomically
there, in no fixed order, and runs would stop being reproducible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.adam import adam as adam_step


@dataclass(frozen=True)
class FitSettings:
    epochs: int
    batch_size: int = 64
    lr: float = 0.01
    weight_decay: float = 0.0
    plateau_patience: int = 10
    plateau_factor: float = 0.1
    keep_best_epoch: bool = True
    # "uniform": each epoch is one random permutation of the rows.  "lds": as the authors' code,
    # each epoch draws N rows with replacement, weighted by the inverse of the smoothed frequency of
    # their reward's 0.1-wide bin (label distribution smoothing, Yang et al. 2021), so the rare high
    # risks weigh as much as the common low ones; the best epoch is then chosen on the plain MSE
    # over all rows (what their model selection does), since the sampled loss is weighted.
    sampling: str = "uniform"
    early_stop_patience: int = 0  # stop after this many epochs without a better loss (0: never)


def linear_layers(net: nn.Sequential) -> tuple[nn.Linear, nn.Linear]:
    """The two Linear layers of a Linear-ReLU-Linear net (a Sequential's items are typed Module)."""
    lin1, lin2 = net[0], net[2]
    assert isinstance(lin1, nn.Linear) and isinstance(lin2, nn.Linear)
    return lin1, lin2


class FlatMLP:
    """The parameters of a Linear-ReLU-Linear net in one flat tensor, first layer transposed
    (``W1^T``, one row per drug) so a combination's pre-activation is a sum of rows."""

    def __init__(self, net: nn.Sequential) -> None:
        lin1, lin2 = linear_layers(net)
        self.h, self.d = lin1.weight.shape
        n_w1 = self.d * self.h
        self.flat = torch.empty(n_w1 + 2 * self.h + 1, device=lin1.weight.device)
        self.W1T, self.b1, self.w2, self.b2 = self.views(self.flat)
        with torch.no_grad():
            self.W1T.copy_(lin1.weight.T)
            self.b1.copy_(lin1.bias)
            self.w2.copy_(lin2.weight[0])
            self.b2.copy_(lin2.bias)

    def views(self, flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(W1T, b1, w2, b2) views of another tensor laid out like ``self.flat`` (the gradient)."""
        n_w1 = self.d * self.h
        return (flat[:n_w1].view(self.d, self.h), flat[n_w1 : n_w1 + self.h],
                flat[n_w1 + self.h : n_w1 + 2 * self.h], flat[n_w1 + 2 * self.h :])

    @torch.no_grad()
    def write_to(self, net: nn.Sequential, flat: torch.Tensor | None = None) -> None:
        W1T, b1, w2, b2 = self.views(self.flat if flat is None else flat)
        lin1, lin2 = linear_layers(net)
        lin1.weight.copy_(W1T.T)
        lin1.bias.copy_(b1)
        lin2.weight[0].copy_(w2)
        lin2.bias.copy_(b2)


class SparseRows:
    """0/1 rows in CSR form: gathers a batch of rows as one flat column-index list (retraining)
    and is the matrix OptimNeuralTS snaps relaxed vectors against."""

    def __init__(self, X: torch.Tensor, *, dense: bool | None = None) -> None:
        """``dense``: train with dense first-layer products (default: on CUDA only)."""
        self.n, self.d = X.shape
        self.dense = X if (X.device.type == "cuda" if dense is None else dense) else None
        # Combinations are sparse (8.7 drugs of 500 on average): a CSR mat-vec reads ~2% of what
        # the dense product reads, and the column indices are what the first layer gathers.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.csr = X.to_sparse_csr()
        self.crow, self.col = self.csr.crow_indices(), self.csr.col_indices()

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flat column indices of ``rows`` in order, offset of each row in them, row number of
        each index)."""
        start = self.crow[rows]
        lens = self.crow[rows + 1] - start
        offsets = torch.cumsum(lens, 0) - lens
        total = int(lens.sum())
        bag = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), lens, output_size=total)
        flat = self.col[start[bag] + torch.arange(total, device=rows.device) - offsets[bag]]
        return flat, offsets, bag


SAMPLINGS = ("uniform", "lds")


def lds_weights(y: torch.Tensor, bin_size: float = 0.1, kernel_size: int = 5, kernel_sigma: float = 2.0) -> torch.Tensor:
    """Per-row sampling weight: 1 / (count of the row's reward bin, smoothed by a Gaussian kernel
    over neighbouring bins), the authors' label distribution smoothing."""
    bins = torch.floor(y / bin_size).long()
    bins -= bins.min()
    counts = torch.bincount(bins).to(y.dtype)
    k = torch.arange(kernel_size, device=y.device, dtype=y.dtype) - (kernel_size - 1) / 2
    kernel = torch.exp(-(k**2) / (2 * kernel_sigma**2))
    smooth = F.conv1d(counts[None, None], kernel[None, None], padding=kernel_size // 2)[0, 0]
    return 1.0 / smooth[bins]


def mse(p: FlatMLP, data: SparseRows, rows: torch.Tensor, y: torch.Tensor, chunk: int = 8192) -> float:
    """Mean squared error of the flat net over ``rows`` (eval pass, in chunks)."""
    total = 0.0
    for i in range(0, len(rows), chunk):
        r = rows[i : i + chunk]
        if data.dense is None:
            cols, offsets, _ = data.gather(r)
            pre = F.embedding_bag(cols, p.W1T, offsets, mode="sum").add_(p.b1)
        else:
            pre = torch.addmm(p.b1, data.dense[r], p.W1T)
        err = torch.addmv(p.b2, pre.clamp_(min=0), p.w2).sub_(y[i : i + chunk])
        total += float(err.dot(err))
    return total / len(rows)


@torch.no_grad()
def fit(net: nn.Sequential, data: SparseRows, rows: torch.Tensor, y: torch.Tensor, s: FitSettings,
        generator: torch.Generator) -> float:
    """Train ``net`` in place on combinations ``rows`` (indices into ``data``) with targets ``y``;
    returns the best epoch's mean squared error (``inf`` for no epochs)."""
    p = FlatMLP(net)
    grad = torch.zeros_like(p.flat)
    gW1T, gb1, gw2, gb2 = p.views(grad)
    exp_avg, exp_avg_sq = torch.zeros_like(p.flat), torch.zeros_like(p.flat)
    step = torch.zeros((), dtype=torch.float32, device=p.flat.device)
    # The optimizer object only holds the learning rate for the scheduler; the update is the
    # functional fused Adam on the flat tensor (Optimizer.step's bookkeeping cost as much as it).
    holder = torch.optim.Adam([p.flat], lr=s.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(holder, mode="min", factor=s.plateau_factor,
                                                       patience=s.plateau_patience)
    N, B = len(y), s.batch_size
    if s.sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, not {s.sampling!r}")
    if N == 0:
        return float("inf")
    weights = lds_weights(y) if s.sampling == "lds" else None
    best_loss, best_flat, stale = float("inf"), None, 0
    for _ in range(s.epochs):
        if weights is None:
            perm = torch.randperm(N, generator=generator, device=rows.device)
        else:
            perm = torch.multinomial(weights, N, replacement=True, generator=generator)
        r, yp = rows[perm], y[perm]
        if data.dense is None:
            cols, offsets, bag = data.gather(r)
            starts = offsets[::B].tolist() + [len(cols)]
        lr = holder.param_groups[0]["lr"]
        total = torch.zeros((), device=y.device)
        for j, i in enumerate(range(0, N, B)):
            yb = yp[i : i + B]
            if data.dense is None:
                a, e = starts[j], starts[j + 1]
                kb = cols[a:e]
                pre = F.embedding_bag(kb, p.W1T, offsets[i : i + B] - a, mode="sum").add_(p.b1)
            else:
                xb = data.dense[r[i : i + B]]
                pre = torch.addmm(p.b1, xb, p.W1T)
            hidden = pre.clamp(min=0)
            err = torch.addmv(p.b2, hidden, p.w2).sub_(yb)
            total += err.dot(err)
            err.mul_(2.0 / len(yb))  # d loss / d out
            torch.mv(hidden.T, err, out=gw2)
            torch.sum(err, 0, keepdim=True, out=gb2)
            dpre = torch.outer(err, p.w2).mul_(pre > 0)
            torch.sum(dpre, 0, out=gb1)
            if data.dense is None:
                gW1T.zero_()
                gW1T.index_add_(0, kb, dpre.index_select(0, bag[a:e] - i))
            else:
                torch.mm(xb.T, dpre, out=gW1T)
            adam_step([p.flat], [grad], [exp_avg], [exp_avg_sq], [], [step], fused=True, amsgrad=False,
                      beta1=0.9, beta2=0.999, lr=lr, weight_decay=s.weight_decay, eps=1e-8, maximize=False)
        epoch_loss = float(total) / N if weights is None else mse(p, data, rows, y)
        sched.step(epoch_loss)
        if epoch_loss < best_loss:
            best_loss, stale = epoch_loss, 0
            if s.keep_best_epoch:
                best_flat = p.flat.clone()
        else:
            stale += 1
            if s.early_stop_patience and stale >= s.early_stop_patience:
                break
    p.write_to(net, best_flat)
    return best_loss


def plain_fit(net: nn.Sequential, X: torch.Tensor, rows: torch.Tensor, y: torch.Tensor, s: FitSettings,
              generator: torch.Generator) -> float:
    """The textbook loop that ``fit`` replaces (nn.Sequential forward, autograd, torch.optim.Adam,
    reduce-on-plateau, best epoch kept; uniform sampling only), kept as the reference that the
    tests and ``bench/bandit_training.py`` hold ``fit`` to.  ``X`` is the dense 0/1 matrix."""
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
