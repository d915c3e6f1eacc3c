"""Prompt tasks: a dataset of {"input", "target"} examples with a train split the search sees and a held-out test
split it never sees. A built-in name, one JSONL file (split deterministically by seed), or --train/--test files."""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from discover.errors import ProblemError

TASKS_DIR = Path(__file__).parent / "tasks"


class TaskError(ProblemError):
    """A task name is unknown or a task file is malformed (the message names the file and line)."""


@dataclass(frozen=True)
class Example:
    id: str
    input: str
    target: str


@dataclass
class PromptTask:
    name: str
    source: str                   # "builtin:NAME" or the file path(s)
    train: list[Example]
    test: list[Example]
    description: str = ""
    scorer: str = "exact"         # default scorer for the task
    labels: list[str] = field(default_factory=list)
    task_max_tokens: int = 128


def builtin_task_names() -> list[str]:
    return sorted(_index())


def _index() -> dict[str, dict]:
    return tomllib.loads((TASKS_DIR / "index.toml").read_text())


def read_jsonl(path: Path | str, prefix: str = "") -> list[Example]:
    """Every line a JSON object with string-able "input" and "target". Errors name the line: one readable line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskError(f"task file {path} does not exist", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"cannot read task file {path}: {exc}", path=str(path)) from None
    out: list[Example] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{path}: line {n}: bad JSON ({exc.msg} at column {exc.colno})", path=str(path), line=n) from None
        if not isinstance(obj, dict):
            raise TaskError(f"{path}: line {n}: expected a JSON object with \"input\" and \"target\", got {type(obj).__name__}",
                            path=str(path), line=n)
        for key in ("input", "target"):
            if key not in obj:
                raise TaskError(f"{path}: line {n}: missing \"{key}\"", path=str(path), line=n)
            if not isinstance(obj[key], (str, int, float, bool)):
                raise TaskError(f"{path}: line {n}: \"{key}\" must be a string or number, got {type(obj[key]).__name__}",
                                path=str(path), line=n)
        out.append(Example(id=f"{prefix}{n}", input=str(obj["input"]), target=str(obj["target"])))
    if not out:
        raise TaskError(f"task file {path} is empty (expected one JSON object per line)", path=str(path))
    return out


def split_examples(examples: list[Example], seed: int, test_fraction: float) -> tuple[list[Example], list[Example]]:
    if not 0 < test_fraction < 1:
        raise TaskError(f"test fraction must be between 0 and 1, got {test_fraction}")
    if len(examples) < 2:
        raise TaskError(f"need at least 2 examples to split into train and test, got {len(examples)}")
    order = list(range(len(examples)))
    random.Random(f"split-{seed}").shuffle(order)
    n_test = min(len(examples) - 1, max(1, round(len(examples) * test_fraction)))
    test_idx = set(order[:n_test])
    return ([e for i, e in enumerate(examples) if i not in test_idx], [e for i, e in enumerate(examples) if i in test_idx])


def _subsample(rows: list[Example], n: int | None, seed: int, tag: str) -> list[Example]:
    if n is None or n >= len(rows):
        return rows
    idx = sorted(random.Random(f"{tag}-{seed}").sample(range(len(rows)), n))
    return [rows[i] for i in idx]


def load_task(task: str | None = None, *, train_file: str | Path | None = None, test_file: str | Path | None = None,
              seed: int = 0, test_fraction: float = 0.5, max_train: int | None = None,
              max_test: int | None = None) -> PromptTask:
    """`task` is a built-in name or a JSONL path (split by seed); or give train_file and test_file."""
    meta: dict = {}
    if train_file or test_file:
        if not (train_file and test_file):
            raise TaskError("give both --train and --test files (or one --task file to split)")
        train, test = read_jsonl(train_file, "train-"), read_jsonl(test_file, "test-")
        name = task or Path(train_file).stem
        source = f"{train_file} + {test_file}"
    elif task is None:
        raise TaskError("no task given: pass a built-in task name, a JSONL file, or --train and --test files")
    elif task in _index():
        meta = _index()[task]
        train = read_jsonl(TASKS_DIR / task / "train.jsonl", "train-")
        test = read_jsonl(TASKS_DIR / task / "test.jsonl", "test-")
        name, source = task, f"builtin:{task}"
    elif Path(task).suffix in (".jsonl", ".json") or Path(task).exists():
        path = Path(task)
        if not path.is_file():
            raise TaskError(f"task file {path} does not exist", path=str(path))
        train, test = split_examples(read_jsonl(path), seed, test_fraction)
        name, source = path.stem, str(path.resolve())
    else:
        raise TaskError(f"unknown task {task!r}: not a file, and not one of the built-in tasks "
                        f"({', '.join(builtin_task_names())})")
    return PromptTask(name=name, source=source, train=_subsample(train, max_train, seed, "train"),
                      test=_subsample(test, max_test, seed, "test"), description=meta.get("description", ""),
                      scorer=meta.get("scorer", "exact"), labels=list(meta.get("labels", [])),
                      task_max_tokens=int(meta.get("task_max_tokens", 128)))
