"""Retraining OptimNeuralTS's network on the pulled combinations, fast on sparse rows.

The network is ``Linear(d, h) - ReLU - Linear(h, 1)``, fitted to the observed rewards by MSE with
Adam (coupled weight decay), reduce-on-plateau and the best epoch kept.  ``fit`` computes what the
plain loop (``nn.Sequential`` + autograd + ``torch.optim.Adam``, one ``randperm`` per epoch) does,
to float rounding (see ``bandits/tests/test_training.py``), about 3.5x faster on one CPU core, which
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


class FlatMLP:
    """The parameters of a Linear-ReLU-Linear net in one flat tensor, first layer transposed
    (``W1^T``, one row per drug) so a combination's pre-activation is a sum of rows."""

    def __init__(self, net: nn.Sequential) -> None:
        lin1, lin2 = net[0], net[2]
        self.h, self.d = lin1.weight.shape
        n_w1 = self.d * self.h
        self.flat = torch.empty(n_w1 + 2 * self.h + 1, device=lin1.weight.device)
        self.W1T = self.flat[:n_w1].view(self.d, self.h)
        self.b1 = self.flat[n_w1 : n_w1 + self.h]
        self.w2 = self.flat[n_w1 + self.h : n_w1 + 2 * self.h]
        self.b2 = self.flat[n_w1 + 2 * self.h :]
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
        net[0].weight.copy_(W1T.T)
        net[0].bias.copy_(b1)
        net[2].weight[0].copy_(w2)
        net[2].bias.copy_(b2)


class SparseRows:
    """Column indices of 0/1 rows in CSR form, to gather a batch of rows as one flat index list."""

    def __init__(self, X: torch.Tensor) -> None:
        self.n, self.d = X.shape
        self.dense = X if X.device.type == "cuda" else None
        nz = X.nonzero()  # row-major, so each row's columns are contiguous
        self.col = nz[:, 1].contiguous()
        counts = torch.bincount(nz[:, 0], minlength=self.n)
        self.crow = torch.zeros(self.n + 1, dtype=torch.long, device=X.device)
        self.crow[1:] = torch.cumsum(counts, 0)

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
    best_loss, best_flat = float("inf"), None
    for _ in range(s.epochs):
        perm = torch.randperm(N, generator=generator, device=rows.device)
        r, yp = rows[perm], y[perm]
        cols, offsets, bag = data.gather(r)
        starts = offsets[::B].tolist() + [len(cols)]
        lr = holder.param_groups[0]["lr"]
        total = torch.zeros((), device=y.device)
        for j, i in enumerate(range(0, N, B)):
            yb = yp[i : i + B]
            a, e = starts[j], starts[j + 1]
            if data.dense is None:
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
        epoch_loss = float(total) / N
        sched.step(epoch_loss)
        if epoch_loss < best_loss:
            best_loss = epoch_loss
            if s.keep_best_epoch:
                best_flat = p.flat.clone()
    p.write_to(net, best_flat)
    return best_loss
