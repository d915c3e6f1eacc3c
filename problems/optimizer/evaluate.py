"""Optimizer (update rule) discovery, Lion-style; split into a trusted and a candidate side
(docs/problem-contract.md).

Idea from Chen et al., "Symbolic Discovery of Optimization Algorithms" (NeurIPS 2023; the program that found
Lion): search over update rules, judge each by how well it trains small proxy tasks, tuned over a learning-rate
grid. Re-implemented here at toy scale in numpy (no code copied).

Candidate contract (see problem.toml):
    init(shape: tuple[int, ...]) -> state           # any Python object; called once per training run
    step(param, grad, state, lr, t) -> (new_param, new_state)
param and grad are 1-D float64 arrays (all of a task's parameters, flattened), lr a float from the grid, t the
1-based step number.

Protocol per task: for every learning rate in the grid and every seed, train from the seed's initial point for
the task's number of steps; the loss of the final parameters (full data, no noise) is recorded. Per learning rate
the seeds are averaged in log space; the best learning rate wins. Task score =
clip(log(loss_candidate / loss_adam), -3, 3) where loss_adam is Adam's under the same protocol (shipped in
data/adam_reference.json, made by data/make_reference.py). 0 = as good as Adam, negative = better. Set score =
mean over the set's tasks. A run whose parameters become non-finite counts as diverged (loss = inf).

Candidate side (``run``, in the sandbox): trains every (learning rate, seed) of one task with the candidate's
init/step on the task's public training data and returns the final parameter vectors (None for a diverged run).
Trusted side (``public``, ``score``): checks every vector (shape, finite), computes its loss on the full data with
the task's own loss, picks the best learning rate and compares with Adam's reference, which only it reads.

The `cuda` instance set trains small torch models on a GPU; torch is imported only for that set (both sides).
Everything else: stdlib + numpy.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np


class InvalidSolution(Exception):
    pass


LR_GRID = [float(10.0 ** e) for e in np.arange(-4.0, 0.01, 0.5)]  # 1e-4 ... 1, half decades
CUDA_LR_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
CLIP = 3.0

# instance set -> list of (task, seeds)
INSTANCE_SETS = {
    "train": [
        ("rosenbrock", [0, 1]),
        ("noisy_quadratic", [0, 1]),
        ("logreg_cancer", [0, 1]),
        ("mlp_digits", [0, 1]),
    ],
    "test": [
        ("rosenbrock", [100, 101, 102]),
        ("noisy_quadratic", [100, 101, 102]),
        ("rotated_quadratic", [100, 101, 102]),
        ("logreg_cancer", [100, 101, 102]),
        ("softmax_digits", [100, 101, 102]),
        ("mlp_digits", [100, 101, 102]),
        ("mlp_cancer", [100, 101, 102]),
    ],
    "cuda": [
        ("torch_mlp_digits", [0, 1]),
        ("torch_cnn_digits", [0, 1]),
    ],
}

# task -> the arrays of data/datasets.npz it trains on (training data is public; the tasks have no held-out data)
TASK_DATA = {
    "rosenbrock": (),
    "noisy_quadratic": (),
    "rotated_quadratic": (),
    "logreg_cancer": ("cancer_X", "cancer_y"),
    "softmax_digits": ("digits_X", "digits_y"),
    "mlp_digits": ("digits_X", "digits_y"),
    "mlp_cancer": ("cancer_X", "cancer_y"),
    "torch_mlp_digits": ("digits_X", "digits_y"),
    "torch_cnn_digits": ("digits_X", "digits_y"),
}


# ---------------------------------------------------------------------------------------------- numpy tasks


class Task:
    """A training problem: x0(seed), loss(x) (exact, full data) and grad(x, rng) (possibly stochastic) over `n`
    parameters."""

    steps = 300
    n = 0

    def x0(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def loss(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class Rosenbrock(Task):
    """Chained Rosenbrock in 10 dimensions, exact gradients, start near (-1.2, 1, -1.2, 1, ...)."""

    steps = 500
    dim = n = 10

    def x0(self, rng):
        return np.tile([-1.2, 1.0], self.dim // 2) + 0.1 * rng.standard_normal(self.dim)

    def loss(self, x):
        return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))

    def grad(self, x, rng):
        g = np.zeros_like(x)
        d = x[1:] - x[:-1] ** 2
        g[:-1] += -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
        g[1:] += 200.0 * d
        return g


class NoisyQuadratic(Task):
    """0.5 x^T H x with eigenvalues log-spaced over `cond`, Gaussian gradient noise; optionally rotated."""

    steps = 400

    def __init__(self, dim=100, cond=1e4, noise=0.1, rotated=False, basis_seed=7):
        self.h = np.logspace(0.0, math.log10(cond), dim) / cond * 10.0  # eigenvalues in [10/cond, 10]
        self.noise = noise
        self.q = None
        if rotated:
            q, _ = np.linalg.qr(np.random.default_rng(basis_seed).standard_normal((dim, dim)))
            self.q = q
        self.dim = self.n = dim

    def x0(self, rng):
        return rng.standard_normal(self.dim)

    def _z(self, x):
        return x if self.q is None else self.q.T @ x

    def loss(self, x):
        z = self._z(x)
        return float(0.5 * np.sum(self.h * z * z))

    def grad(self, x, rng):
        gz = self.h * self._z(x)
        g = gz if self.q is None else self.q @ gz
        return g + self.noise * rng.standard_normal(self.dim)


def _standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    return (x - x.mean(axis=0)) / sd


class Supervised(Task):
    """Minibatch training of a small model; loss = full-data mean cross-entropy + 0.5 * l2 * |x|^2."""

    steps = 300
    batch = 64
    l2 = 1e-4

    def __init__(self, X, y, n_classes):
        self.X = X
        self.y = y.astype(np.int64)
        self.k = n_classes

    # subclasses: n_params, x0, forward(x, X) -> logits, backward -> grad
    def _loss_grad(self, x, X, y, need_grad):
        raise NotImplementedError

    def loss(self, x):
        return float(self._loss_grad(x, self.X, self.y, False)[0] + 0.5 * self.l2 * np.dot(x, x))

    def grad(self, x, rng):
        idx = rng.integers(0, len(self.y), self.batch)
        return self._loss_grad(x, self.X[idx], self.y[idx], True)[1] + self.l2 * x


def _xent(logits: np.ndarray, y: np.ndarray):
    """Mean softmax cross-entropy and its gradient w.r.t. the logits."""
    m = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(m)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.mean(m[np.arange(n), y] - np.log(e.sum(axis=1)))
    dl = p
    dl[np.arange(n), y] -= 1.0
    return loss, dl / n


class Linear(Supervised):
    """Softmax regression (logistic regression when k = 2) with a bias."""

    def __init__(self, X, y, n_classes):
        super().__init__(X, y, n_classes)
        self.d = X.shape[1]
        self.n = (self.d + 1) * self.k

    def x0(self, rng):
        return 0.01 * rng.standard_normal(self.n)

    def _loss_grad(self, x, X, y, need_grad):
        W = x[: self.d * self.k].reshape(self.d, self.k)
        b = x[self.d * self.k:]
        loss, dl = _xent(X @ W + b, y)
        if not need_grad:
            return loss, None
        return loss, np.concatenate([(X.T @ dl).ravel(), dl.sum(axis=0)])


class MLP(Supervised):
    """One hidden tanh layer, softmax output."""

    def __init__(self, X, y, n_classes, hidden):
        super().__init__(X, y, n_classes)
        self.d, self.h = X.shape[1], hidden
        self.shapes = [(self.d, hidden), (hidden,), (hidden, self.k), (self.k,)]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n = sum(self.sizes)

    def _unpack(self, x):
        out, pos = [], 0
        for s, n in zip(self.shapes, self.sizes):
            out.append(x[pos:pos + n].reshape(s))
            pos += n
        return out

    def x0(self, rng):
        parts = [
            rng.standard_normal((self.d, self.h)) * math.sqrt(1.0 / self.d),
            np.zeros(self.h),
            rng.standard_normal((self.h, self.k)) * math.sqrt(1.0 / self.h),
            np.zeros(self.k),
        ]
        return np.concatenate([p.ravel() for p in parts])

    def _loss_grad(self, x, X, y, need_grad):
        W1, b1, W2, b2 = self._unpack(x)
        a = np.tanh(X @ W1 + b1)
        loss, dl = _xent(a @ W2 + b2, y)
        if not need_grad:
            return loss, None
        da = (dl @ W2.T) * (1.0 - a * a)
        return loss, np.concatenate([(X.T @ da).ravel(), da.sum(axis=0), (a.T @ dl).ravel(), dl.sum(axis=0)])


def load_datasets(data_dir: str) -> dict:
    with np.load(os.path.join(data_dir, "datasets.npz")) as z:
        return {k: z[k] for k in z.files}


def make_task(name: str, datasets: dict) -> Task:
    """The task `name`, built from the arrays of data/datasets.npz it needs (the same on both sides)."""
    if name == "rosenbrock":
        return Rosenbrock()
    if name == "noisy_quadratic":
        return NoisyQuadratic(dim=100, cond=1e4, noise=0.1)
    if name == "rotated_quadratic":
        return NoisyQuadratic(dim=50, cond=1e3, noise=0.1, rotated=True)
    if name == "logreg_cancer":
        return Linear(_standardize(datasets["cancer_X"]), datasets["cancer_y"], 2)
    if name == "softmax_digits":
        return Linear(datasets["digits_X"].astype(np.float64) / 16.0, datasets["digits_y"], 10)
    if name == "mlp_digits":
        return MLP(datasets["digits_X"].astype(np.float64) / 16.0, datasets["digits_y"], 10, hidden=32)
    if name == "mlp_cancer":
        return MLP(_standardize(datasets["cancer_X"]), datasets["cancer_y"], 2, hidden=16)
    raise ValueError(f"unknown task {name!r}")


# ---------------------------------------------------------------------------------------------- the protocol


def _entry_points(candidate):
    init = getattr(candidate, "init", None)
    step = getattr(candidate, "step", None)
    if not callable(step):
        raise InvalidSolution("the candidate defines no function `step(param, grad, state, lr, t)`")
    if not callable(init):
        raise InvalidSolution("the candidate defines `step` but no `init(shape) -> state`; both are required")
    return init, step


def _apply(step, x, g, state, lr, t):
    out = step(x, g, state, lr, t)
    if not isinstance(out, tuple) or len(out) != 2:
        raise InvalidSolution(f"step must return a tuple (new_param, new_state), got {type(out).__name__}")
    new_x, state = out
    try:
        new_x = np.asarray(new_x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidSolution(f"step returned a new_param that is not an array of numbers: {exc}")
    if new_x.shape != x.shape:
        raise InvalidSolution(f"step returned new_param of shape {new_x.shape}; expected {x.shape}, same as param")
    return new_x, state


def cosine_lr(lr: float, t: int, steps: int) -> float:
    """The learning rate handed to step() at step t: cosine decay from lr (t = 1) to 0 (t = steps + 1)."""
    return lr * 0.5 * (1.0 + math.cos(math.pi * (t - 1) / steps))


def train_final(init, step, task: Task, seed: int, lr: float) -> np.ndarray | None:
    """Train with one learning rate from one seed; return the final parameters (None if the run diverged)."""
    rng = np.random.default_rng(seed)
    x = task.x0(rng)
    np.random.seed(seed)  # candidates that draw from np.random stay deterministic
    state = init(x.shape)
    with np.errstate(all="ignore"):
        for t in range(1, task.steps + 1):
            g = task.grad(x, rng)
            x, state = _apply(step, x.copy(), g, state, cosine_lr(lr, t, task.steps), t)
            if not np.all(np.isfinite(x)):
                return None
    return x


def final_loss(task: Task, x: np.ndarray | None) -> float:
    """The task's full-data loss at x (inf for a diverged run or a non-finite loss)."""
    if x is None:
        return math.inf
    with np.errstate(all="ignore"):
        loss = task.loss(x)
    return loss if math.isfinite(loss) else math.inf


def train_once(init, step, task: Task, seed: int, lr: float) -> float:
    """Train and measure in one process: for trusted code only (Adam's reference)."""
    return final_loss(task, train_final(init, step, task, seed, lr))


def best_of_grid(losses: list[list[float]], grid: list[float]) -> tuple[float, float]:
    """losses[i][j]: final loss with grid[i] from seed j -> (geometric-mean loss, lr) of the best learning rate;
    a learning rate where any seed diverged does not count."""
    best = (math.inf, grid[0])
    for lr, row in zip(grid, losses):
        if any(not math.isfinite(v) for v in row):
            continue
        gm = math.exp(sum(math.log(max(v, 1e-300)) for v in row) / len(row))
        if gm < best[0]:
            best = (gm, lr)
    return best


def tune(init, step, task, seeds, run=train_once, grid=LR_GRID) -> tuple[float, float]:
    """Best learning rate of the grid by the seeds' geometric-mean final loss -> (loss, lr). Trusted code only."""
    return best_of_grid([[run(init, step, task, s, lr) for s in seeds] for lr in grid], grid)


def relative_score(loss: float, ref: float) -> float:
    if not math.isfinite(loss):
        return CLIP
    return float(np.clip(math.log(max(loss, 1e-300) / max(ref, 1e-300)), -CLIP, CLIP))


# Adam (Kingma & Ba 2015), the reference every score is relative to. Used to make data/adam_reference.json
# and, on the cuda set, run by the judge.
def adam_init(shape):
    return {"m": np.zeros(shape), "v": np.zeros(shape)}


def adam_step(param, grad, state, lr, t, b1=0.9, b2=0.999, eps=1e-8):
    m = b1 * state["m"] + (1 - b1) * grad
    v = b2 * state["v"] + (1 - b2) * grad * grad
    mhat = m / (1 - b1 ** t)
    vhat = v / (1 - b2 ** t)
    return param - lr * mhat / (np.sqrt(vhat) + eps), {"m": m, "v": v}


# ---------------------------------------------------------------------------------------------- trusted side


def _check_set(instance_set: str) -> None:
    if instance_set not in INSTANCE_SETS:
        raise ValueError(f"unknown instance set {instance_set!r}; known: {', '.join(INSTANCE_SETS)}")


def _grid(instance_set: str) -> list[float]:
    return CUDA_LR_GRID if instance_set == "cuda" else LR_GRID


def public(instance_set: str, data_dir: str) -> dict:
    """Per task: its name, seeds, learning-rate grid and the training data it needs. Never Adam's reference."""
    _check_set(instance_set)
    ds = load_datasets(data_dir)
    return {
        name: {"task": name, "seeds": list(seeds), "lr_grid": list(_grid(instance_set)),
               "data": {k: ds[k] for k in TASK_DATA[name]}}
        for name, seeds in INSTANCE_SETS[instance_set]
    }


def _reference(instance_set: str, data_dir: str) -> dict:
    with open(os.path.join(data_dir, "adam_reference.json")) as f:
        return json.load(f)[instance_set]


def hidden(instance_set: str, data_dir: str) -> list:
    """Adam's reference losses (the cuda set's are computed by the judge and never leave it)."""
    if instance_set == "cuda":
        return []
    return [v["loss"] for v in _reference(instance_set, data_dir).values()]


def checked_finals(name: str, finals, grid: list[float], seeds: list[int], n: int) -> list[list]:
    """finals[i][j]: the final parameters with grid[i] from seeds[j], a float array of shape (n,) or None (the run
    diverged); anything else is InvalidSolution naming the task and the run."""
    where = f"instance {name}"
    if not isinstance(finals, list) or len(finals) != len(grid):
        raise InvalidSolution(f"{where}: expected a list of {len(grid)} lists (one per learning rate), got "
                              f"{type(finals).__name__}{f' of {len(finals)}' if isinstance(finals, list) else ''}")
    for lr, row in zip(grid, finals):
        if not isinstance(row, list) or len(row) != len(seeds):
            raise InvalidSolution(f"{where}, lr {lr:g}: expected a list of {len(seeds)} final parameter vectors "
                                  f"(one per seed)")
        for seed, x in zip(seeds, row):
            run = f"{where}, lr {lr:g}, seed {seed}"
            if x is None:
                continue
            if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
                raise InvalidSolution(f"{run}: the final parameters must be a float array or None (diverged), got "
                                      f"{type(x).__name__}{f' of dtype {x.dtype}' if isinstance(x, np.ndarray) else ''}")
            if x.shape != (n,):
                raise InvalidSolution(f"{run}: the final parameters have shape {x.shape}; the task has ({n},)")
            if not np.all(np.isfinite(x)):
                raise InvalidSolution(f"{run}: the final parameters are not finite (a diverged run is None)")
    return finals


def score(instance_set: str, data_dir: str, outputs: dict) -> dict:
    _check_set(instance_set)
    if instance_set == "cuda":
        return _score_cuda(data_dir, outputs)
    ref = _reference(instance_set, data_dir)
    ds = load_datasets(data_dir)
    instances = {}
    for name, seeds in INSTANCE_SETS[instance_set]:
        if name not in outputs:
            raise InvalidSolution(f"instance {name}: no final parameters came back")
        task = make_task(name, ds)
        finals = checked_finals(name, outputs[name], LR_GRID, seeds, task.n)
        loss, lr = best_of_grid([[final_loss(task, x) for x in row] for row in finals], LR_GRID)
        instances[name] = {
            "score": relative_score(loss, ref[name]["loss"]),
            "loss": loss if math.isfinite(loss) else None,
            "best_lr": lr if math.isfinite(loss) else None,
            "adam_loss": ref[name]["loss"],
            "adam_lr": ref[name]["lr"],
        }
    return {"instances": instances, "score": float(np.mean([v["score"] for v in instances.values()]))}


# ---------------------------------------------------------------------------------------------- candidate side


def run(candidate, data) -> list[list]:
    """Train every (learning rate, seed) of one task; finals[i][j] for lr_grid[i] and seeds[j]."""
    init, step = _entry_points(candidate)
    name, seeds, grid = data["task"], [int(s) for s in data["seeds"]], [float(v) for v in data["lr_grid"]]
    if name.startswith("torch_"):
        return _run_torch(init, step, name, seeds, grid, data["data"])
    task = make_task(name, data["data"])
    return [[train_final(init, step, task, s, lr) for s in seeds] for lr in grid]


# ---------------------------------------------------------------------------------------------- torch / GPU
# Small torch models trained on the GPU (forward/backward on the device); the update rule runs in numpy on the
# flattened parameter vector, so the candidate contract is the same as on the CPU sets. The judge recomputes each
# returned vector's full-data loss and runs Adam's reference itself (GPU results differ between machines, so no
# shipped reference), on the GPU when it has one, else on CPU torch.

TORCH_STEPS, TORCH_BATCH = 300, 128


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise RuntimeError(f"instance set 'cuda' needs torch ({exc}); run it on a machine with torch and a GPU")
    return torch


def _torch_data(data: dict, device: str):
    torch = _torch()
    X = torch.tensor(np.asarray(data["digits_X"]), dtype=torch.float32, device=device) / 16.0
    y = torch.tensor(np.asarray(data["digits_y"]), dtype=torch.int64, device=device)
    return X, y


def _torch_model(name: str, seed: int, device: str):
    torch = _torch()
    torch.manual_seed(seed)
    nn = torch.nn
    if name == "torch_mlp_digits":
        model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    elif name == "torch_cnn_digits":
        model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(32 * 16, 10))
    else:
        raise ValueError(f"unknown task {name!r}")
    return model.to(device)


def _torch_train(init_fn, step_fn, name: str, seed: int, lr: float, X, y, device: str) -> np.ndarray | None:
    """Final parameter vector (float64) of one training run, None if it diverged."""
    torch = _torch()
    model = _torch_model(name, seed, device)
    params = list(model.parameters())
    vec = torch.nn.utils.parameters_to_vector(params).detach().double().cpu().numpy()
    state = init_fn(vec.shape)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    np.random.seed(seed)
    with np.errstate(all="ignore"):
        for t in range(1, TORCH_STEPS + 1):
            idx = torch.randint(0, len(y), (TORCH_BATCH,), generator=gen).to(device)
            model.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            g = torch.nn.utils.parameters_to_vector([p.grad for p in params]).double().cpu().numpy()
            vec, state = _apply(step_fn, vec.copy(), g, state, cosine_lr(lr, t, TORCH_STEPS), t)
            if not np.all(np.isfinite(vec)):
                return None
            torch.nn.utils.vector_to_parameters(torch.from_numpy(vec).float().to(device), params)
    return vec


def _torch_loss(name: str, vec: np.ndarray | None, X, y, device: str) -> float:
    """Full-data cross-entropy of the model with parameters float32(vec), as the training run left it."""
    if vec is None:
        return math.inf
    torch = _torch()
    model = _torch_model(name, 0, device)
    params = list(model.parameters())
    torch.nn.utils.vector_to_parameters(torch.from_numpy(np.asarray(vec)).float().to(device), params)
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(model(X), y))
    return loss if math.isfinite(loss) else math.inf


def _torch_n_params(name: str) -> int:
    return sum(p.numel() for p in _torch_model(name, 0, "cpu").parameters())


def _run_torch(init, step, name, seeds, grid, data) -> list[list]:
    torch = _torch()
    device = os.environ.get("DISCOVER_TORCH_DEVICE", "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("instance set 'cuda' needs a CUDA GPU, and torch.cuda.is_available() is False")
    X, y = _torch_data(data, device)
    return [[_torch_train(init, step, name, s, lr, X, y, device) for s in seeds] for lr in grid]


def _score_cuda(data_dir: str, outputs: dict) -> dict:
    torch = _torch()
    device = os.environ.get("DISCOVER_TORCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    X, y = _torch_data(load_datasets(data_dir), device)
    instances = {}
    for name, seeds in INSTANCE_SETS["cuda"]:
        if name not in outputs:
            raise InvalidSolution(f"instance {name}: no final parameters came back")
        finals = checked_finals(name, outputs[name], CUDA_LR_GRID, seeds, _torch_n_params(name))
        loss, lr = best_of_grid([[_torch_loss(name, x, X, y, device) for x in row] for row in finals], CUDA_LR_GRID)
        ref_loss, ref_lr = best_of_grid(
            [[_torch_loss(name, _torch_train(adam_init, adam_step, name, s, r, X, y, device), X, y, device)
              for s in seeds] for r in CUDA_LR_GRID], CUDA_LR_GRID)
        instances[name] = {
            "score": relative_score(loss, ref_loss),
            "loss": loss if math.isfinite(loss) else None,
            "best_lr": lr if math.isfinite(loss) else None,
            "adam_loss": ref_loss,
            "adam_lr": ref_lr,
            "reference_device": device,
        }
    return {"instances": instances, "score": float(np.mean([v["score"] for v in instances.values()]))}


if __name__ == "__main__":  # python problems/optimizer/evaluate.py <instance_set> [candidate.py]: both sides, one process
    import importlib.util
    import sys
    import time

    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "seed.py")
    spec = importlib.util.spec_from_file_location("candidate", path)
    cand = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cand)
    set_name, data_dir = sys.argv[1] if len(sys.argv) > 1 else "train", os.path.join(here, "data")
    t0 = time.time()
    outs = {iid: run(cand, d) for iid, d in public(set_name, data_dir).items()}
    result = score(set_name, data_dir, outs)
    result["seconds"] = round(time.time() - t0, 2)
    print(json.dumps(result, indent=1))
