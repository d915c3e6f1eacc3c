"""A candidate's (or a baseline's) scores on the instance sets of one split, and the single number ranked on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from discover.errors import ConfigError
from discover.review.problem_info import ProblemInfo
from discover.store import EvaluationRow


@dataclass(frozen=True)
class SetScores:
    scores: dict[str, float | None]   # instance set -> score (None unless evaluated ok)
    statuses: dict[str, str]          # instance set -> ok | timeout | error | ... | missing

    @property
    def complete(self) -> bool:
        return bool(self.scores) and all(v is not None for v in self.scores.values())

    @property
    def mean(self) -> float | None:
        """Mean over the sets, only when every set has a score: a partial mean is not comparable."""
        if not self.complete:
            return None
        return sum(v for v in self.scores.values() if v is not None) / len(self.scores)


def split_sets(info: ProblemInfo, split: str) -> list[str]:
    """`split` is train, test, or one instance-set name."""
    if split == "test":
        return list(info.test_sets)
    if split == "train":
        return list(info.train_sets)
    known = [*info.train_sets, *info.test_sets]
    if split not in known:
        raise ConfigError(f"--split {split!r}: {info.name} has train, test, or one of the instance sets {', '.join(known)}",
                          split=split)
    return [split]


def from_evaluations(rows: Iterable[EvaluationRow], split: str, sets: list[str]) -> SetScores:
    newest: dict[str, EvaluationRow] = {}
    for r in rows:  # in id order, so a later re-evaluation wins
        if split in ("train", "test") and r.split != split:
            continue
        if r.instance_set in sets:
            newest[r.instance_set] = r
    scores = {s: (newest[s].score if s in newest and newest[s].status == "ok" else None) for s in sets}
    statuses = {s: (newest[s].status if s in newest else "missing") for s in sets}
    return SetScores(scores, statuses)


def from_baseline(values: dict[str, float], sets: list[str]) -> SetScores:
    return SetScores({s: values.get(s) for s in sets}, {s: ("ok" if s in values else "missing") for s in sets})


def fmt(x: float | None, digits: int = 4) -> str:
    """A score for people: significant digits, an em dash for none."""
    return "—" if x is None else f"{x:.{digits}g}"
