"""problems/optimizer: Lion-style update-rule discovery, scored relative to Adam. The candidate side returns the final
parameter vectors; the trusted side checks them and computes their losses."""

import math
from pathlib import Path

import numpy as np
import pytest

from discover.contract import evaluate_in_process, import_file

ROOT = Path(__file__).resolve().parent.parent / "problems" / "optimizer"
DATA = str(ROOT / "data")


@pytest.fixture(scope="module")
def ev():
    return import_file(ROOT / "evaluate.py", "optimizer_evaluate")


def _run(code: str, instance_set: str = "train") -> dict:
    return evaluate_in_process(ROOT, code, instance_set)


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
    r = _run((ROOT / "seed.py").read_text())
    assert set(r["instances"]) == {"rosenbrock", "noisy_quadratic", "logreg_cancer", "mlp_digits"}
    assert r["score"] == pytest.approx(0.7557, abs=1e-3)
    m = r["instances"]["mlp_digits"]
    assert m["best_lr"] in ev.LR_GRID and m["score"] == pytest.approx(math.log(m["loss"] / m["adam_loss"]))


def test_sgd_baseline():
    assert _run(SGD)["score"] == pytest.approx(0.9573, abs=1e-3)


def test_an_independent_adam_scores_zero():
    r = _run(ADAM)
    assert r["score"] == pytest.approx(0.0, abs=1e-9)
    assert all(v["best_lr"] == v["adam_lr"] for v in r["instances"].values())


def test_gradients_are_correct(ev):
    rng = np.random.default_rng(0)
    datasets = ev.load_datasets(DATA)
    for name in ("rosenbrock", "logreg_cancer", "softmax_digits", "mlp_digits", "mlp_cancer"):
        task = ev.make_task(name, datasets)
        x = task.x0(rng)
        assert x.shape == (task.n,)
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


def test_divergence_is_scored_not_raised():
    boom = "import numpy as np\ndef init(shape):\n    return 0\ndef step(p, g, s, lr, t):\n    return p * 1e10, s\n"
    r = _run(boom)
    assert r["score"] == 3.0 and all(v["loss"] is None for v in r["instances"].values())


@pytest.mark.parametrize("src,needle", [
    ("def step(p, g, s, lr, t):\n    return p, s\n", "no `init"),
    ("def init(shape):\n    return 0\n", "no function `step"),
    ("def init(shape):\n    return 0\ndef step(p, g, s, lr, t):\n    return p\n", "tuple"),
    ("def init(shape):\n    return 0\ndef step(p, g, s, lr, t):\n    return p[:1], s\n", "shape"),
])
def test_contract_violations_are_invalid_on_the_candidate_side(src, needle):
    # The candidate side is its own import of evaluate.py (as in the sandbox), so its InvalidSolution is another class.
    with pytest.raises(Exception, match=needle) as info:
        _run("import numpy as np\n" + src)
    assert type(info.value).__name__ == "InvalidSolution"


def test_cosine_schedule(ev):
    assert ev.cosine_lr(0.1, 1, 100) == 0.1
    assert ev.cosine_lr(0.1, 51, 100) == pytest.approx(0.05)
    assert ev.cosine_lr(0.1, 100, 100) < 1e-4


def test_public_data_is_training_data_never_the_reference(ev):
    pub = ev.public("train", DATA)
    assert list(pub) == ["rosenbrock", "noisy_quadratic", "logreg_cancer", "mlp_digits"]
    assert pub["mlp_digits"]["seeds"] == [0, 1] and pub["mlp_digits"]["lr_grid"] == ev.LR_GRID
    assert set(pub["mlp_digits"]["data"]) == {"digits_X", "digits_y"} and pub["rosenbrock"]["data"] == {}
    assert all(set(d) == {"task", "seeds", "lr_grid", "data"} for d in pub.values())
    ref = [v["loss"] for v in ev._reference("train", DATA).values()]
    assert sorted(ev.hidden("train", DATA)) == sorted(ref)


def _start_points(ev, instance_set="train"):
    """Outputs as if every run returned its untrained starting point (cheap, and a real vector of the task)."""
    datasets = ev.load_datasets(DATA)
    out = {}
    for name, seeds in ev.INSTANCE_SETS[instance_set]:
        task = ev.make_task(name, datasets)
        out[name] = [[task.x0(np.random.default_rng(s)) for s in seeds] for _ in ev.LR_GRID]
    return out


def test_losses_are_computed_by_the_judge(ev):
    outputs = _start_points(ev)
    r = ev.score("train", DATA, outputs)["instances"]["logreg_cancer"]
    task = ev.make_task("logreg_cancer", ev.load_datasets(DATA))
    gm = math.exp(np.mean([math.log(task.loss(task.x0(np.random.default_rng(s)))) for s in (0, 1)]))
    assert r["loss"] == pytest.approx(gm, rel=1e-12) and r["best_lr"] == ev.LR_GRID[0]
    assert r["loss"] > 10 * r["adam_loss"]  # untrained: far from Adam, whatever a candidate would claim
    # a learning rate where one seed diverged does not count; all diverged is the clip
    outputs["logreg_cancer"][0][1] = None
    assert ev.score("train", DATA, outputs)["instances"]["logreg_cancer"]["best_lr"] == ev.LR_GRID[1]
    outputs["logreg_cancer"] = [[None, None] for _ in ev.LR_GRID]
    assert ev.score("train", DATA, outputs)["instances"]["logreg_cancer"]["score"] == 3.0


@pytest.mark.parametrize("forge,needle", [
    (lambda f: f[0][0][:-1], r"the final parameters have shape \(61,\); the task has \(62,\)"),
    (lambda f: f[0][0].reshape(2, 31), r"shape \(2, 31\)"),
    (lambda f: np.where(np.arange(62) == 3, np.nan, f[0][0]), "not finite"),
    (lambda f: np.full(62, np.inf), "not finite"),
    (lambda f: np.zeros(62, dtype=np.int64), "must be a float array or None"),
    (lambda f: f[0][0].tolist(), "must be a float array or None"),
])
def test_forged_vectors_are_invalid(ev, forge, needle):
    outputs = _start_points(ev)
    ev.score("train", DATA, outputs)
    outputs["logreg_cancer"][0][0] = forge(outputs["logreg_cancer"])
    with pytest.raises(ev.InvalidSolution, match=f"instance logreg_cancer, lr 0.0001, seed 0: .*{needle}"):
        ev.score("train", DATA, outputs)


@pytest.mark.parametrize("forge,needle", [
    (lambda f: f[:-1], "expected a list of 9 lists"),
    (lambda f: {"lr": f}, "expected a list of 9 lists"),
    (lambda f: [row[:1] for row in f], "lr 0.0001: expected a list of 2 final parameter vectors"),
])
def test_forged_grids_are_invalid(ev, forge, needle):
    outputs = _start_points(ev)
    outputs["logreg_cancer"] = forge(outputs["logreg_cancer"])
    with pytest.raises(ev.InvalidSolution, match=f"instance logreg_cancer.*{needle}"):
        ev.score("train", DATA, outputs)
    del outputs["logreg_cancer"]
    with pytest.raises(ev.InvalidSolution, match="logreg_cancer: no final parameters came back"):
        ev.score("train", DATA, outputs)


def test_cuda_set_without_torch_says_why(ev):
    try:
        import torch  # noqa: F401
    except ImportError:
        pub = ev.public("cuda", DATA)  # the public part needs no torch
        assert pub["torch_cnn_digits"]["lr_grid"] == ev.CUDA_LR_GRID
        with pytest.raises(RuntimeError, match="needs torch"):
            _run(SGD, "cuda")
        with pytest.raises(RuntimeError, match="needs torch"):
            ev.score("cuda", DATA, {})
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
    r = _run((ROOT / "seed.py").read_text(), "cuda")
    print(f"cuda set: score {r['score']:.4f} in {time.time() - t0:.1f} s: {r['instances']}")
    assert set(r["instances"]) == {"torch_mlp_digits", "torch_cnn_digits"}
    for v in r["instances"].values():
        assert -3 <= v["score"] <= 3 and v["adam_loss"] > 0 and v["reference_device"].startswith("cuda")
    assert _run(ADAM, "cuda")["score"] == pytest.approx(0.0, abs=0.1)
    # a forged vector is refused here too
    pub = import_file(ROOT / "evaluate.py", "optimizer_cuda_side").public("cuda", DATA)
    n = ev._torch_n_params("torch_mlp_digits")
    outputs = {k: [[np.zeros(ev._torch_n_params(k)) for _ in d["seeds"]] for _ in d["lr_grid"]] for k, d in pub.items()}
    outputs["torch_mlp_digits"][2][1] = np.zeros(n + 1)
    with pytest.raises(ev.InvalidSolution, match="torch_mlp_digits, lr 0.01, seed 1: .*shape"):
        ev.score("cuda", DATA, outputs)
