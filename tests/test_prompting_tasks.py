"""Task loading: built-in tasks, a single JSONL split by seed, --train/--test files, malformed files."""

from __future__ import annotations

import json

import pytest

from discover.prompting import TaskError, builtin_task_names, load_task


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_builtin_tasks_load_with_disjoint_splits():
    names = builtin_task_names()
    assert {"antonyms", "larger_animal", "sentiment", "sum", "navigate", "boolean_expressions", "gsm8k"} <= set(names)
    for name in names:
        t = load_task(name)
        assert t.train and t.test and t.source == f"builtin:{name}"
        assert t.scorer in {"exact", "numeric", "choice", "contains"}
    nav = load_task("navigate")
    assert len(nav.train) == 50 and len(nav.test) == 200 and nav.labels == ["Yes", "No"]
    assert not {e.input for e in nav.train} & {e.input for e in nav.test}


def test_subsample_is_deterministic():
    a = load_task("antonyms", max_train=20, max_test=30, seed=1)
    b = load_task("antonyms", max_train=20, max_test=30, seed=1)
    assert (len(a.train), len(a.test)) == (20, 30) and a.train == b.train and a.test == b.test


def test_single_file_split_by_seed(tmp_path):
    f = _write(tmp_path / "t.jsonl", [json.dumps({"input": f"q{i}", "target": i}) for i in range(20)])
    t1 = load_task(str(f), seed=3, test_fraction=0.25)
    t2 = load_task(str(f), seed=3, test_fraction=0.25)
    t3 = load_task(str(f), seed=4, test_fraction=0.25)
    assert (len(t1.train), len(t1.test)) == (15, 5)
    assert t1.test == t2.test and t1.test != t3.test
    assert not {e.id for e in t1.train} & {e.id for e in t1.test}
    assert t1.test[0].target.isdigit()  # numbers become strings


def test_train_and_test_files(tmp_path):
    tr = _write(tmp_path / "tr.jsonl", ['{"input": "a", "target": "b"}', "", '{"input": "c", "target": "d"}'])
    te = _write(tmp_path / "te.jsonl", ['{"input": "e", "target": "f"}'])
    t = load_task(train_file=tr, test_file=te)
    assert [e.input for e in t.train] == ["a", "c"] and [e.input for e in t.test] == ["e"]
    with pytest.raises(TaskError, match="give both --train and --test"):
        load_task(train_file=tr)


def test_bad_json_names_the_line(tmp_path):
    lines = [json.dumps({"input": "x", "target": "y"})] * 6 + ['{"input": "x", "target": ']
    f = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(TaskError) as exc:
        load_task(str(f))
    assert str(exc.value).startswith(f"{f}: line 7: bad JSON")
    assert "\n" not in str(exc.value)


def test_missing_target_names_the_line(tmp_path):
    f = _write(tmp_path / "bad.jsonl", ['{"input": "a", "target": "b"}', '{"input": "a", "target": "b"}', '{"input": "a"}'])
    with pytest.raises(TaskError, match=r'line 3: missing "target"'):
        load_task(str(f))


def test_not_an_object_and_bad_types(tmp_path):
    with pytest.raises(TaskError, match="line 1: expected a JSON object"):
        load_task(str(_write(tmp_path / "a.jsonl", ['["input", "target"]'])))
    with pytest.raises(TaskError, match='line 1: "input" must be a string or number'):
        load_task(str(_write(tmp_path / "b.jsonl", ['{"input": {"x": 1}, "target": "y"}'])))


def test_empty_missing_unknown(tmp_path):
    with pytest.raises(TaskError, match="is empty"):
        load_task(str(_write(tmp_path / "e.jsonl", ["", "  "])))
    with pytest.raises(TaskError, match="does not exist"):
        load_task(str(tmp_path / "missing.jsonl"))
    with pytest.raises(TaskError, match="unknown task 'antonym'.*antonyms"):
        load_task("antonym")
    with pytest.raises(TaskError, match="at least 2 examples"):
        load_task(str(_write(tmp_path / "one.jsonl", ['{"input": "a", "target": "b"}'])))
