"""Rollout accounting for prompt runs, before they start: what one candidate costs in task-model calls (the
minibatch -> full-train cascade: a candidate screened out pays the minibatch only, a promoted one the whole train
split), what held-out scoring adds, and how many candidates a task-call budget buys. The loop enforces the budgets
themselves (`max_task_calls`, `max_optimizer_calls`: discover/engine/llm.py); this only says what to expect.

Repeated (instruction, example) pairs are answered from the cache and cost nothing, so these are upper bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RolloutEstimate:
    n_train: int
    n_test: int
    screened: int            # task calls of a candidate stopped after the minibatch
    promoted: int            # task calls of a candidate scored on the whole train split
    held_out: int            # task calls of held-out scoring after the search
    max_task_calls: int | None
    max_optimizer_calls: int | None
    strategy: str

    @property
    def candidates(self) -> tuple[int, int] | None:
        """(fewest, most) candidates the task budget pays for: all promoted .. all screened out."""
        if self.max_task_calls is None:
            return None
        return self.max_task_calls // max(1, self.promoted), self.max_task_calls // max(1, self.screened)

    def text(self) -> str:
        per = (f"about {self.screened} task calls per candidate screened out on the minibatch, {self.promoted} per "
               f"candidate scored on all {self.n_train} train examples" if self.screened < self.promoted
               else f"about {self.promoted} task calls per candidate ({self.n_train} train examples)")
        lines = [f"This needs {per}; held-out scoring adds {self.held_out} ({self.n_test} test examples per scored "
                 f"candidate)."]
        if self.candidates is not None:
            lo, hi = self.candidates
            lines.append(f"max_task_calls {self.max_task_calls} pays for {lo}-{hi} candidates"
                         + (f" (at most {self.max_optimizer_calls} optimizer calls)" if self.max_optimizer_calls
                            is not None else "") + ".")
        if self.strategy == "reflective":
            lines.append("About half of the reflective strategy's candidates are demo moves that need no optimizer call.")
        return " ".join(lines)


def estimate(n_train: int, n_test: int, *, minibatch: int, test_top_k: int, max_task_calls: int | None = None,
             max_optimizer_calls: int | None = None, strategy: str = "opro") -> RolloutEstimate:
    screened = min(minibatch, n_train)
    return RolloutEstimate(n_train=n_train, n_test=n_test, screened=screened, promoted=n_train,
                           held_out=(test_top_k + 1) * n_test, max_task_calls=max_task_calls,
                           max_optimizer_calls=max_optimizer_calls, strategy=strategy)


def estimate_for(config: Any) -> RolloutEstimate | None:
    """For a RunConfig whose task is given by options (a built-in task or JSONL files); None for a prompt folder."""
    from discover.targets.prompt import task_from_options

    o = config.prompt
    if not (o.task or o.train_file):
        return None
    task = task_from_options(config)
    return estimate(len(task.train), len(task.test), minibatch=o.minibatch, test_top_k=config.test_top_k,
                    max_task_calls=o.max_task_calls, max_optimizer_calls=o.max_optimizer_calls,
                    strategy=config.strategy)
