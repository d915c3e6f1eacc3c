"""problems/optimizer: Lion-style update-rule discovery, scored relative to Adam."""

import importlib.util
import math
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent / "problems" / "optimizer"
DATA = str(ROOT / "data")


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _module(src: str, name: str = "cand"):
    mod = types.ModuleType(name)
    exec(src, mod.__dict__)
    return mod


@pytest.fixture(scope="module")
def ev():
    return _load(ROOT / "evaluate.py", "optimizer_evaluate")


SGD = "import numpy as np\ndef init(shape):\n    return None\ndef step(param, grad, state, lr, t):\n    return param - lr * grad, state\n"
ADAM = """import numpy as np
def init(shape):
    return (np.zeros(shape), np.zeros(shape))
def step(param, grad, state, lr, t):
    m = 0.9 * state[0] + 0.1 * grad
    v = 0.999 * state[1] + 0.001 * grad * grad
    return param - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8), (m, v)
"""


def test_seed_train_score_matches_baseline(ev):
    r = ev.evaluate(_load(ROOT / "seed.py", "opt_seed"), "train", DATA)
    assert set(r["instances"]) == {"rosenbrock", "noisy_quadratic", "logreg_cancer", "mlp_digits"}
    assert r["score"] == pytest.approx(0.7557, abs=1e-3)
    m = r["instances"]["mlp_digits"]
    assert m["best_lr"] in ev.LR_GRID and m["score"] == pytest.approx(math.log(m["loss"] / m["adam_loss"]))


def test_sgd_baseline(ev):
    assert ev.evaluate(_module(SGD), "train", DATA)["score"] == pytest.approx(0.9573, abs=1e-3)


def test_an_independent_adam_scores_zero(ev):
    r = ev.evaluate(_module(ADAM), "train", DATA)
    assert r["score"] == pytest.approx(0.0, abs=1e-9)
    assert all(v["best_lr"] == v["adam_lr"] for v in r["instances"].values())


def test_gradients_are_correct(ev):
    rng = np.random.default_rng(0)
    for name in ("rosenbrock", "logreg_cancer", "softmax_digits", "mlp_digits", "mlp_cancer"):
        task = ev.make_task(name, DATA)
        x = task.x0(rng)
        if hasattr(task, "batch"):  # full batch, to compare with finite differences of the full-data loss
            task.batch = len(task.y)
            task.grad_full = lambda x: task._loss_grad(x, task.X, task.y, True)[1] + task.l2 * x
            g = task.grad_full(x)
        else:
            g = task.grad(x, rng)
        for i in rng.choice(len(x), 5, replace=False):
            e = np.zeros_like(x)
            e[i] = 1e-6
            fd = (task.loss(x + e) - task.loss(x - e)) / 2e-6
            assert fd == pytest.approx(g[i], rel=1e-4, abs=1e-6), (name, i)


def test_divergence_is_scored_not_raised(ev):
    boom = _module("import numpy as np\ndef init(shape):\n    return 0\ndef step(p, g, s, lr, t):\n    return p * 1e10, s\n")
    r = ev.evaluate(boom, "train", DATA)
    assert r["score"] == 3.0 and all(v["loss"] is None for v in r["instances"].values())


@pytest.mark.parametrize("src,needle", [
    ("def step(p, g, s, lr, t):\n    return p, s\n", "no `init"),
    ("def init(shape):\n    return 0\n", "no function `step"),
    ("def init(shape):\n    return 0\ndef step(p, g, s, lr, t):\n    return p\n", "tuple"),
    ("def init(shape):\n    return 0\ndef step(p, g, s, lr, t):\n    return p[:1], s\n", "shape"),
])
def test_contract_violations_are_invalid(ev, src, needle):
    with pytest.raises(ev.InvalidSolution, match=needle):
        ev.evaluate(_module("import numpy as np\n" + src), "train", DATA)


def test_cosine_schedule(ev):
    assert ev.cosine_lr(0.1, 1, 100) == 0.1
    assert ev.cosine_lr(0.1, 51, 100) == pytest.approx(0.05)
    assert ev.cosine_lr(0.1, 100, 100) < 1e-4


def test_cuda_set_without_torch_says_why(ev):
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="needs torch"):
            ev.evaluate(_module(SGD), "cuda", DATA)
    else:
        pytest.skip("torch is installed; the gpu test covers the cuda set")


@pytest.mark.gpu
def test_cuda_set_runs_on_gpu(ev):
    try:
        import torch
    except ImportError as exc:
        pytest.skip(f"the cuda set needs torch: {exc}")
    if not torch.cuda.is_available():
        pytest.skip("the cuda set needs a CUDA GPU; torch.cuda.is_available() is False")
    import time
    t0 = time.time()
    r = ev.evaluate(_load(ROOT / "seed.py", "opt_seed_gpu"), "cuda", DATA)
    print(f"cuda set: score {r['score']:.4f} in {time.time() - t0:.1f} s: {r['instances']}")
    assert set(r["instances"]) == {"torch_mlp_digits", "torch_cnn_digits"}
    for v in r["instances"].values():
        assert -3 <= v["score"] <= 3 and v["adam_loss"] > 0 and v["device"].startswith("cuda")
    assert ev.evaluate(_module(ADAM), "cuda", DATA)["score"] == pytest.approx(0.0, abs=0.1)
