"""What review needs to know about a run's problem (score direction, unit, splits, baselines, entry), tolerant of a
problem folder that has moved or been deleted since the run, and of prompt runs, which have no folder at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from discover.errors import DiscoverError
from discover.problem import load_problem
from discover.store import RunRow, Store
from discover.targets.info import TargetInfo, target_info


@dataclass(frozen=True)
class ProblemInfo:
    name: str
    kind: str                                   # the target kind: code | prompt | ... (see discover.targets.info)
    direction: Literal["minimize", "maximize"]
    unit: str
    train_sets: list[str]
    test_sets: list[str]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    entry_name: str | None = None
    imports: str = ""
    note: str | None = None                     # why some of this is a guess
    optimum: float | None = None                # problem.toml [score] optimum, where known

    @property
    def minimize(self) -> bool:
        return self.direction == "minimize"

    @property
    def target(self) -> TargetInfo:
        return target_info(self.kind)

    def key(self, score: float | None) -> float:
        """Ascending sort key: smaller is better, None last."""
        if score is None:
            return float("inf")
        return score if self.minimize else -score

    def better(self, a: float | None, b: float | None) -> bool:
        return a is not None and (b is None or self.key(a) < self.key(b))

    def references(self) -> dict[str, dict[str, float]]:
        """The optimum's score on every set, shown beside the baselines, where problem.toml states it."""
        if self.optimum is not None:
            return {"optimum": {s: self.optimum for s in [*self.train_sets, *self.test_sets]}}
        return {}


def _sets_seen(store: Store, run_id: str) -> tuple[list[str], list[str]]:
    train: dict[str, None] = {}
    test: dict[str, None] = {}
    for c in store.candidates(run_id):
        for e in store.evaluations(c.id):
            (test if e.split == "test" else train)[e.instance_set] = None
    return list(train), list(test)


def problem_info(store: Store, run: RunRow) -> ProblemInfo:
    target = target_info(run.kind)
    if not target.problem_folder:
        # e.g. prompt runs: accuracy on examples; train = the full train split ("minibatch" is only a screen)
        return ProblemInfo(name=run.problem, kind=target.kind, direction=target.direction, unit=target.unit,
                           train_sets=list(target.train_sets), test_sets=list(target.test_sets))
    problem = None
    for where in (run.problem_dir, run.problem):
        try:
            problem = load_problem(where)
            break
        except DiscoverError:
            continue
    if problem is None:
        train, test = _sets_seen(store, run.id)
        return ProblemInfo(name=run.problem, kind=run.kind, direction="minimize", unit="", train_sets=train or ["train"],
                           test_sets=test,
                           note=f"problem folder {run.problem_dir} is gone: no baselines; assuming lower is better")
    spec = problem.spec
    return ProblemInfo(name=run.problem, kind=spec.kind, direction=spec.score.direction, unit=spec.score.unit,
                       train_sets=list(spec.splits.train), test_sets=list(spec.splits.test),
                       baselines={k: dict(v) for k, v in spec.baselines.items()}, entry_name=spec.entry.name,
                       imports=spec.entry.imports, optimum=spec.score.optimum)
