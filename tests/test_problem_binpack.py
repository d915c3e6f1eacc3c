"""problems/binpack: both halves through the wire format reproduce FunSearch's published figures, and the trusted
side re-checks every packing it is sent."""

from pathlib import Path

import numpy as np
import pytest

from discover.contract import evaluate_in_process, import_file

ROOT = Path(__file__).resolve().parent.parent / "problems" / "binpack"
DATA = str(ROOT / "data")
SEED = (ROOT / "seed.py").read_text()
FIRST_FIT = "import numpy as np\ndef priority(item, bins):\n    return -np.arange(len(bins), dtype=float)\n"


@pytest.fixture(scope="module")
def ev():
    return import_file(ROOT / "evaluate.py", "binpack_evaluate")


def _run(code: str, instance_set: str) -> dict:
    return evaluate_in_process(ROOT, code, instance_set)


def _invalid_on_candidate_side(code: str, instance_set: str, needle: str) -> None:
    # The candidate side is its own import of evaluate.py (as in the sandbox), so its InvalidSolution is another class.
    with pytest.raises(Exception, match=needle) as info:
        _run(code, instance_set)
    assert type(info.value).__name__ == "InvalidSolution"


# FunSearch (Nature 2024) Table 1, best fit: OR1-4 and Weibull 5k, excess bins over the L1 bound in %.
@pytest.mark.parametrize("instance_set,published", [
    ("or1", 5.81), ("or2", 6.06), ("or3", 5.37), ("or4", 4.94), ("weibull5k", 3.98),
])
def test_best_fit_reproduces_published(instance_set, published):
    r = _run(SEED, instance_set)
    assert round(r["score"], 2) == published
    assert len(r["instances"]) == (5 if instance_set == "weibull5k" else 20)


def test_first_fit_reproduces_published():
    got = [round(_run(FIRST_FIT, s)["score"], 2) for s in ("or1", "or2", "or3", "or4")]
    assert got == [6.42, 6.45, 5.74, 5.23]


def test_orlib_parser_and_instance_metrics(ev):
    insts = ev.load_instances("or1", DATA)
    assert len(insts) == 20 and insts["u120_00"]["capacity"] == 150 and len(insts["u120_00"]["items"]) == 120
    assert insts["u120_00"]["items"][:3] == [42, 69, 67] and insts["u120_00"]["best_known"] == 48
    r = _run(SEED, "or1")
    m = r["instances"]["u120_00"]
    assert m["l1_bound"] == ev.l1_bound(insts["u120_00"]["items"], 150)
    assert m["score"] == pytest.approx(100 * (m["bins"] - m["l1_bound"]) / m["l1_bound"])
    assert r["mean_bins"] == pytest.approx(51.9) and r["mean_l1_bound"] == pytest.approx(49.05)


def test_train_set_and_baseline():
    r = _run(SEED, "train")
    assert set(r["instances"]) == {f"train_{i}" for i in range(5)}
    assert r["score"] == pytest.approx(4.8283, abs=1e-4)


def test_public_data_is_items_and_capacity_only(ev):
    pub = ev.public("or1", DATA)
    assert set(pub["u120_00"]) == {"id", "capacity", "items"}  # never OR-Library's best known
    assert pub["u120_00"]["items"].dtype == np.int64 and pub["u120_00"]["items"][:3].tolist() == [42, 69, 67]


def test_new_bin_only_when_nothing_fits(ev):
    # capacity 10: best fit puts 6 into a new bin, 4 on top of it, 5 into a new bin, 5 on top: 2 bins.
    assert ev.pack(lambda item, bins: -(bins - item), [6, 4, 5, 5], 10).tolist() == [0, 0, 1, 1]
    # "always open a new bin" = prefer the emptiest bin: one bin per item
    assert ev.pack(lambda item, bins: bins.astype(float), [6, 4, 5, 5], 10).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("body,needle", [
    ("return 1.0", "shape"),
    ("return np.ones(len(bins) + 1)", "shape"),
    ("return np.full(len(bins), np.nan)", "non-finite"),
    ("return ['a'] * len(bins)", "array of numbers"),
])
def test_bad_priorities_are_invalid(body, needle):
    _invalid_on_candidate_side(f"import numpy as np\ndef priority(item, bins):\n    {body}\n", "or1", needle)


def test_missing_entry_is_invalid():
    _invalid_on_candidate_side("x = 1\n", "or1", "priority")


def _honest_outputs(ev, instance_set):
    best_fit = lambda item, bins: -(bins - item)  # noqa: E731
    return {iid: ev.run(type("C", (), {"priority": staticmethod(best_fit)}), d)
            for iid, d in ev.public(instance_set, DATA).items()}


@pytest.mark.parametrize("forge,needle", [
    (lambda a: np.zeros_like(a), "over the capacity"),                        # everything into bin 0
    (lambda a: a[:-1], "assigns 119 items; the instance has 120"),
    (lambda a: np.where(np.arange(len(a)) == 5, -1, a), "item 5 is put into bin -1"),
    (lambda a: np.where(np.arange(len(a)) == 7, len(a), a), "item 7 is put into bin 120"),
    (lambda a: a.astype(float), "int bin indices"),
    (lambda a: a.astype(bool), "int bin indices"),
    (lambda a: [str(v) for v in a], "int bin indices"),
    (lambda a: 3, "int bin indices"),
])
def test_forged_packings_are_invalid(ev, forge, needle):
    outputs = _honest_outputs(ev, "or1")
    assert ev.score("or1", DATA, outputs)["score"] == pytest.approx(5.810397553516823, abs=1e-12)
    outputs["u120_00"] = forge(outputs["u120_00"])
    with pytest.raises(ev.InvalidSolution, match=f"instance u120_00: .*{needle}"):
        ev.score("or1", DATA, outputs)


def test_packing_is_recounted_not_believed(ev):
    outputs = _honest_outputs(ev, "or1")
    base = ev.score("or1", DATA, outputs)["instances"]["u120_00"]["bins"]
    # moving one item alone into an unused bin is a valid packing with one more bin; lists of ints are accepted
    a = outputs["u120_00"].tolist()
    a[0] = max(a) + 1
    outputs["u120_00"] = a
    assert ev.score("or1", DATA, outputs)["instances"]["u120_00"]["bins"] == base + 1
    del outputs["u120_01"]
    with pytest.raises(ev.InvalidSolution, match="u120_01: no packing came back"):
        ev.score("or1", DATA, outputs)
