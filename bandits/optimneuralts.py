"""OptimNeuralTS (Larouche, Durand, Khoury, Sirois 2023): diagonal NeuralTS + differential evolution.

Setting (defaults = the paper's): a one-hidden-layer ReLU network (128 units, MSE) predicts a
combination's relative risk.  Exploration is diagonal NeuralTS: ``U`` starts at ``lam`` and after
each pull ``U += g**2`` (``g`` = gradient of the network output w.r.t. all parameters at the pulled
combination); a candidate ``x`` has ``sigma(x) = nu * sqrt(lam * sum(g(x)**2 / U))``.  At every
bandit step an arm is chosen by differential evolution (best/1/bin, population 32, 16 generations,
F = 1, CR = 0.9) over the relaxed space ``[0, 1]^d``, each evaluation a fresh Thompson sample
``mu + sigma * z``; the winner is snapped to the nearest existing combination by Hamming distance.
``warmup`` random (noiseless) pulls come first, then bandit steps (reward + N(0, reward_noise))
up to ``total_steps``; the network is retrained every ``train_every`` steps and every
``flag_every`` steps all combinations with ``mu - 3 sigma > threshold`` are flagged (union kept).

Everything batched: per-sample gradients via ``torch.func.vmap(grad)``, the DE population evolves
as one tensor, snapping is one matrix product, flagging runs in batches, and retraining reads only
the drugs present in each row (``bandits.training``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from bandits.metrics import flag_metrics
from bandits.training import FitSettings, SparseRows, fit, linear_layers


@dataclass
class OptimNeuralTSSettings:
    hidden: int = 128
    lam: float = 1.0  # U initial value and weight-decay numerator
    nu: float = 1.0  # exploration scale
    # differential evolution
    pop_size: int = 32
    generations: int = 16
    de_f: float = 1.0
    de_cr: float = 0.9
    # protocol
    warmup: int = 10_000  # tau: random noiseless pulls
    total_steps: int = 30_000
    reward_noise: float = 0.1
    # training
    train_every: int = 10
    warmup_epochs: int = 100
    bandit_epochs: int = 100  # fewer epochs = cheaper retraining (option)
    warm_start: bool = True  # continue from the current weights
    batch_size: int = 64
    lr: float = 0.01
    plateau_patience: int = 10
    plateau_factor: float = 0.1
    keep_best_epoch: bool = True
    sampling: str = "uniform"  # or "lds": the authors' label-distribution-smoothed sampling (bandits.training)
    early_stop_patience: int = 0  # 0: every epoch runs; the authors stop after 25 without progress
    # flagging
    flag_every: int = 200
    flag_threshold: float = 1.1
    flag_z: float = 3.0
    flag_batch: int = 512
    # "analytic": closed form of sum(g^2/U) for Linear-ReLU-Linear (no (B, n_params) tensor; equal
    # to "vmap" up to float rounding, see tests); "vmap": generic torch.func per-sample gradients
    sigma_method: str = "analytic"
    # misc
    seed: int = 0
    device: str = "auto"  # "auto" -> cuda if available else cpu

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


def sum_g2_over_u(net: nn.Sequential, inv_U: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``sum_k g_k(x)^2 / U_k`` for a Linear-ReLU-Linear ``net``, in closed form: for each row of
    ``x`` the gradient's squares are products of per-layer factors, so no (B, n_params) tensor is
    built.  ``inv_U`` is ``1 / U`` in ``named_parameters`` order.  (Also used by screening.)"""
    lin1, lin2 = linear_layers(net)
    pre = x @ lin1.weight.T + lin1.bias
    h = torch.relu(pre)
    a = lin2.weight[0] * (pre > 0)  # d out / d pre
    h_dim, d = lin1.weight.shape
    o = 0
    iu_w1 = inv_U[o : o + h_dim * d].view(h_dim, d); o += h_dim * d
    iu_b1 = inv_U[o : o + h_dim]; o += h_dim
    iu_w2 = inv_U[o : o + h_dim]; o += h_dim
    iu_b2 = inv_U[o]
    a2 = a * a
    q = ((a2 @ iu_w1) * (x * x)).sum(1)
    return q + a2 @ iu_b1 + (h * h) @ iu_w2 + iu_b2


@torch.no_grad()
def analytic_mu_sigma(net: nn.Sequential, inv_U: torch.Tensor, x: torch.Tensor, *, lam: float,
                      nu: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted RR ``mu`` and NeuralTS width ``sigma = nu * sqrt(lam * sum g^2 / U)`` of rows ``x``."""
    mu = net(x).squeeze(-1)
    return mu, nu * torch.sqrt(lam * sum_g2_over_u(net, inv_U, x))


@dataclass
class RunResult:
    flags: np.ndarray  # bool union of all flags
    pulled: np.ndarray  # int indices pulled, in order
    rewards: np.ndarray  # observed rewards
    history: list[dict] = field(default_factory=list)
    wall_s: float = 0.0
    bandit_wall_s: float = 0.0


class OptimNeuralTS:
    def __init__(
        self,
        X: np.ndarray,
        rr: np.ndarray,
        settings: OptimNeuralTSSettings | None = None,
        *,
        pip: np.ndarray | None = None,
        pattern_index: np.ndarray | None = None,
    ) -> None:
        self.s = settings or OptimNeuralTSSettings()
        self.device = self.s.resolved_device()
        self.X_np = np.asarray(X, dtype=np.uint8)
        self.rr = np.asarray(rr, dtype=np.float64)
        self.pip = pip
        self.pattern_index = pattern_index
        self.n, self.d = self.X_np.shape
        self.X = torch.as_tensor(self.X_np, dtype=torch.float32, device=self.device)
        self.rows = SparseRows(self.X)  # CSR: snapping 7x faster than dense on CPU, and retraining
        self.rng = np.random.default_rng(self.s.seed)
        self.gen = torch.Generator(device=self.device).manual_seed(self.s.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.s.seed)
            self.net = nn.Sequential(nn.Linear(self.d, self.s.hidden), nn.ReLU(), nn.Linear(self.s.hidden, 1))
        self.net.to(self.device)
        self.n_params = sum(p.numel() for p in self.net.parameters())
        self.U = torch.full((self.n_params,), float(self.s.lam), device=self.device)
        self._inv_U: torch.Tensor | None = None
        self.pulled: list[int] = []
        self.rewards: list[float] = []
        self.flags = np.zeros(self.n, dtype=bool)
        self.step = 0

        def f(params, x):
            return functional_call(self.net, params, (x.unsqueeze(0),)).squeeze()

        self._per_sample_grad = vmap(grad(f), in_dims=(None, 0))

    # ------------------------------------------------------------------ gradients / sigma
    def _params(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.net.named_parameters()}

    def per_sample_grads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_params) gradients of the output w.r.t. all parameters, in named_parameters order."""
        g = self._per_sample_grad(self._params(), x)
        return torch.cat([t.reshape(x.shape[0], -1) for t in g.values()], dim=1)

    @torch.no_grad()
    def mu_sigma(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.net(x).squeeze(-1)
        if self.s.sigma_method == "analytic":
            q = self._sum_g2_over_u_analytic(x)
        else:
            g = self.per_sample_grads(x)
            q = (g * g) @ self.inv_U()
        return mu, self.s.nu * torch.sqrt(self.s.lam * q)

    def inv_U(self) -> torch.Tensor:
        if self._inv_U is None:
            self._inv_U = 1.0 / self.U
        return self._inv_U

    def _sum_g2_over_u_analytic(self, x: torch.Tensor) -> torch.Tensor:
        """sum_k g_k(x)^2 / U_k in closed form for Linear-ReLU-Linear (no (B, n_params) tensor)."""
        return sum_g2_over_u(self.net, self.inv_U(), x)

    @torch.no_grad()
    def update_U(self, x: torch.Tensor, chunk: int = 512) -> None:
        for i in range(0, x.shape[0], chunk):
            g = self.per_sample_grads(x[i : i + chunk])
            self.U += (g * g).sum(0)
        self._inv_U = None

    # ------------------------------------------------------------------ arm selection
    @torch.no_grad()
    def _thompson(self, pop: torch.Tensor) -> torch.Tensor:
        mu, sigma = self.mu_sigma(pop)
        z = torch.randn(pop.shape[0], generator=self.gen, device=self.device)
        return mu + sigma * z

    @torch.no_grad()
    def select_arm(self) -> int:
        s = self.s
        P, d = s.pop_size, self.d
        init = torch.as_tensor(self.rng.integers(0, self.n, size=P), device=self.device)
        pop = self.X[init].clone()
        fit = self._thompson(pop)
        ar = torch.arange(P, device=self.device)
        for _ in range(s.generations):
            best = pop[fit.argmax()]
            # two distinct partners per member, both != member
            keys = torch.rand(P, P, generator=self.gen, device=self.device)
            keys[ar, ar] = 2.0  # never pick the member itself
            r = keys.argsort(dim=1)[:, :2]
            mutant = (best + s.de_f * (pop[r[:, 0]] - pop[r[:, 1]])).clamp_(0.0, 1.0)
            cross = torch.rand(P, d, generator=self.gen, device=self.device) < s.de_cr
            jrand = torch.randint(0, d, (P,), generator=self.gen, device=self.device)
            cross[ar, jrand] = True
            trial = torch.where(cross, mutant, pop)
            tfit = self._thompson(trial)
            better = tfit >= fit
            pop = torch.where(better[:, None], trial, pop)
            fit = torch.where(better, tfit, fit)
        return self.snap(pop[fit.argmax()])

    @torch.no_grad()
    def snap(self, c: torch.Tensor) -> int:
        """Nearest existing combination to a relaxed vector c in [0,1]^d (L1 = Hamming on 0/1)."""
        # |x - c|_1 = sum(c) + sum_j x_j (1 - 2 c_j) for x in {0, 1}^d
        dist = c.sum() + self.rows.csr @ (1.0 - 2.0 * c)
        return int(dist.argmin())

    # ------------------------------------------------------------------ training
    def train(self, epochs: int) -> float:
        s = self.s
        if not s.warm_start:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s.seed + len(self.pulled))
                for m in self.net:
                    if isinstance(m, nn.Linear):  # the net's only layers with parameters
                        m.reset_parameters()
        rows = torch.as_tensor(np.asarray(self.pulled), device=self.device)
        ys = torch.as_tensor(np.asarray(self.rewards), dtype=torch.float32, device=self.device)
        fs = FitSettings(epochs=epochs, batch_size=s.batch_size, lr=s.lr, weight_decay=s.lam / len(ys),
                         plateau_patience=s.plateau_patience, plateau_factor=s.plateau_factor,
                         keep_best_epoch=s.keep_best_epoch, sampling=s.sampling,
                         early_stop_patience=s.early_stop_patience)
        best_loss = fit(self.net, self.rows, rows, ys, fs, self.gen)
        self.net.eval()
        return best_loss

    # ------------------------------------------------------------------ flagging
    @torch.no_grad()
    def flag_all(self) -> np.ndarray:
        """Bool mask of combinations with mu - z*sigma > threshold (this round only)."""
        out = np.zeros(self.n, dtype=bool)
        for i in range(0, self.n, self.s.flag_batch):
            mu, sigma = self.mu_sigma(self.X[i : i + self.s.flag_batch])
            out[i : i + self.s.flag_batch] = (mu - self.s.flag_z * sigma > self.s.flag_threshold).cpu().numpy()
        return out

    def _flag_round(self) -> None:
        self.flags |= self.flag_all()

    def metrics(self) -> dict:
        m: dict = {"step": self.step, "n_pulled_distinct": int(len(set(self.pulled)))}
        if self.pip is not None:
            m.update(flag_metrics(self.flags, self.pip, self.pattern_index).as_dict())
            m["distinct_pip_pulled"] = int(self.pip[np.unique(np.asarray(self.pulled, dtype=np.int64))].sum())
        return m

    # ------------------------------------------------------------------ protocol
    def run(self, callback: Callable[[int, dict], None] | None = None,
            on_step: Callable[[int], None] | None = None) -> RunResult:
        """The protocol above. ``callback(step, metrics)`` after the warm-up and each flagging
        round; ``on_step(step)`` after every bandit pull (cheap: progress between the rounds)."""
        s = self.s
        t0 = time.perf_counter()
        history: list[dict] = []

        def report() -> None:
            m = self.metrics()
            m["wall_s"] = time.perf_counter() - t0
            history.append(m)
            if callback is not None:
                callback(self.step, m)

        # warm-up: tau random noiseless pulls, one fit, U from their gradients
        tau = min(s.warmup, s.total_steps)
        if tau > 0:
            idx = self.rng.integers(0, self.n, size=tau)
            self.pulled.extend(int(i) for i in idx)
            self.rewards.extend(float(r) for r in self.rr[idx])
            self.step = tau
            self.train(s.warmup_epochs)
            self.update_U(self.X[torch.as_tensor(idx, device=self.device)])
            self._flag_round()
            report()
        tb = time.perf_counter()
        while self.step < s.total_steps:
            i = self.select_arm()
            r = float(self.rr[i] + self.rng.normal(0.0, s.reward_noise))
            self.pulled.append(i)
            self.rewards.append(r)
            self.step += 1
            self.update_U(self.X[i : i + 1])
            if (self.step - tau) % s.train_every == 0:
                self.train(s.bandit_epochs)
            if self.step % s.flag_every == 0 or self.step == s.total_steps:
                self._flag_round()
                report()
            elif on_step is not None:
                on_step(self.step)
        return RunResult(
            flags=self.flags.copy(),
            pulled=np.asarray(self.pulled, dtype=np.int64),
            rewards=np.asarray(self.rewards),
            history=history,
            wall_s=time.perf_counter() - t0,
            bandit_wall_s=time.perf_counter() - tb,
        )

    # ------------------------------------------------------------------ checkpoint
    def checkpoint(self) -> dict:
        return {
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            "U": self.U.detach().cpu().clone(),
            "settings": asdict(self.s),
            "step": self.step,
            "pulled": np.asarray(self.pulled, dtype=np.int64),
            "rewards": np.asarray(self.rewards),
            "flags": self.flags.copy(),
        }

    def save(self, path: str) -> None:
        torch.save(self.checkpoint(), path)

    def load_checkpoint(self, ckpt: dict) -> None:
        self.net.load_state_dict(ckpt["state_dict"])
        self.U = ckpt["U"].to(self.device).clone()
        self._inv_U = None
        self.step = int(ckpt["step"])
        self.pulled = [int(i) for i in ckpt["pulled"]]
        self.rewards = [float(r) for r in ckpt["rewards"]]
        self.flags = np.asarray(ckpt["flags"], dtype=bool).copy()
