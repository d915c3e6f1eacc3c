"""Search a template's parameters with CMA-ES (the `cma` package), cheapest evaluations first.

The evaluator does the tuning, not the LLM (LLaMEA-HPO, van Stein et al. 2024, is the published precedent):
`tune` asks CMA-ES for points in a normalised box, maps them to parameter values (a log-scale range around each
nonzero original, keeping its sign), scores most of them on the cheap "screen" fidelity, re-scores the best few on
"full", and returns the best full score. docs/tuning.md explains the choices; discover/tuning.py lifts constants.
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from discover.errors import DiscoverError

if TYPE_CHECKING:
    from discover.tuning import ConstantTemplate

Values = tuple  # one value per parameter, in template order (ints and floats)
Objective = Callable[[Values, str], Awaitable["float | None"]]
SCREEN, FULL = "screen", "full"
METHODS = ("cma", "random")
STALL_ROUNDS = 30


class TuningBudgetError(DiscoverError):
    """The budget cannot pay for a baseline, a search and a confirmation."""


@dataclass(frozen=True)
class Evaluation:
    values: Values
    fidelity: str  # "screen" | "full"
    score: float | None  # None: the evaluation failed (invalid, crash, timeout)
    reused: bool = False  # answered from `known` (a resumed tuning) instead of calling the objective


@dataclass
class TuneResult:
    best_values: Values
    best_code: str
    best_score: float | None  # on "full"; None only when neither the original nor any confirmed point is valid
    original_score: float | None
    evaluations_used: int  # distinct (values, fidelity) points scored, including those answered from `known`
    evaluations_called: int  # of those, how many called the objective in this call of tune
    history: list[Evaluation] = field(default_factory=list)
    params: dict[str, int | float] = field(default_factory=dict)  # best values by parameter name
    original_params: dict[str, int | float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # budget, seed, method, signs, screen, confirm_top, popsize

    @property
    def improved(self) -> bool:
        """True when the best full score is strictly better than the original's (or the original failed)."""
        if self.best_score is None:
            return False
        return self.original_score is None or self.best_score < self.original_score

    def meta(self) -> dict:
        """What the loop stores in the tuned candidate's meta under "tune" (JSON-able)."""
        return {
            "params": self.params,
            "original": self.original_params,
            "original_score": self.original_score,
            "best_score": self.best_score,
            "evaluations_used": self.evaluations_used,
            **self.settings,
        }


def known_from(rows) -> dict[tuple, float | None]:
    """`known` for a resumed tuning from stored rows of (values as a list or tuple, fidelity, score or None)."""
    return {(tuple(values), fidelity): score for values, fidelity, score in rows}


class Space:
    """Maps a point z of [-1, 1]^d to parameter values: v * 2**(span * z) for a nonzero v (sign kept), zero_range
    * z for a zero float; ints rounded, kept >= 1 (or <= -1) when they were; floats rounded to `digits`
    significant digits so that the values, the rendered code and the cache key are the same numbers.

    signs="free" lets a nonzero float change sign (a small model guesses signs too): z is then
    asinh(x / |v|) / asinh(2**span), linear within +-|v| and log-like beyond, the same reach
    (|x| <= |v| * 2**span), the original at z0 = +-asinh(1) / asinh(2**span) instead of 0."""

    def __init__(self, template: ConstantTemplate, span: float = 3.0, zero_range: float = 1.0, digits: int = 4,
                 signs: str = "keep"):
        if signs not in ("keep", "free"):
            raise DiscoverError(f"signs must be 'keep' or 'free', not {signs!r}")
        self.params = template.params
        self.span, self.zero_range, self.digits = span, zero_range, digits
        self.free = [signs == "free" and p.kind == "float" and p.value != 0 for p in self.params]
        self.reach = math.asinh(2.0**span)
        self.z0 = np.array(
            [math.copysign(math.asinh(1.0) / self.reach, p.value) if free else 0.0
             for p, free in zip(self.params, self.free)]
        )

    def values(self, z) -> Values:
        out = []
        for param, free, zi in zip(self.params, self.free, z):
            zi = min(1.0, max(-1.0, float(zi)))
            v = param.value
            if free:
                x = abs(v) * math.sinh(zi * self.reach)
            else:
                x = self.zero_range * zi if v == 0 else v * 2.0 ** (self.span * zi)
            if param.kind == "int":
                x = int(round(x))
                if v >= 1:
                    x = max(1, x)
                elif v <= -1:
                    x = min(-1, x)
            else:
                x = float(f"{x:.{self.digits}g}")
            out.append(x)
        return tuple(out)


@contextmanager
def _private_numpy_rng(holder: dict):
    """cma draws from numpy's global generator: give each tuning its own state so that concurrent tunings, and
    whatever else uses np.random in the process, neither disturb it nor are disturbed."""
    outside = np.random.get_state()
    np.random.set_state(holder["state"])
    try:
        yield
    finally:
        holder["state"] = np.random.get_state()
        np.random.set_state(outside)


class _Proposer:
    """Deterministic batches of points in [-1, 1]^d: CMA-ES, or uniform random search as a baseline."""

    def __init__(self, method: str, z0: np.ndarray, seed: int, popsize: int, sigma0: float):
        if method == "cma" and len(z0) == 1:  # cma 4.5's std limits fail in 1-D: search a dummy 2nd coordinate
            z0 = np.append(z0, 0.0)  # (Space.values zips params with z, so the extra coordinate is ignored)
        self.method, self.z0, self.dim, self.seed, self.sigma0 = method, z0, len(z0), seed, sigma0
        self.restarts = 0
        if method == "random":
            self.rng = np.random.default_rng(seed)
            self.popsize = popsize
        else:
            self._rng_state = {"state": np.random.RandomState(_cma_seed(seed)).get_state()}
            self.es = self._new_es(popsize)
            self.popsize = self.es.popsize

    def _new_es(self, popsize: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cma warns at import when matplotlib is missing
            import cma
        opts = {
            "seed": _cma_seed(self.seed + 7919 * self.restarts),
            "bounds": [-1.0, 1.0],
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
            "popsize": popsize,
        }
        with _private_numpy_rng(self._rng_state), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cma.CMAEvolutionStrategy(self.z0, self.sigma0, opts)

    def ask(self) -> list[np.ndarray]:
        if self.method == "random":
            return list(self.rng.uniform(-1.0, 1.0, size=(self.popsize, self.dim)))
        with _private_numpy_rng(self._rng_state), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [np.asarray(z) for z in self.es.ask()]

    def tell(self, zs: list[np.ndarray], scores: list[float]) -> None:
        if self.method == "random":
            return
        with _private_numpy_rng(self._rng_state), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.es.tell(zs, scores)
            stopped = bool(self.es.stop())
        if stopped:  # converged (e.g. ints all rounded to one point): restart from the original, new seed
            self.restarts += 1
            self.es = self._new_es(self.popsize)


def default_popsize(dim: int) -> int:
    return 4 + int(3 * math.log(dim))  # CMA-ES's default (Hansen), also used for random search


def _cma_seed(seed: int) -> int:
    return 1 + seed % (2**31 - 2)  # cma reads seed 0 as "seed from the clock"


def _finite(score) -> float | None:
    if score is None:
        return None
    score = float(score)
    return score if math.isfinite(score) else None


class _Scorer:
    """Scores points once each: counts the budget, answers from `known`, runs up to `concurrency` at a time."""

    def __init__(self, objective: Objective, known: dict | None, concurrency: int):
        self.objective = objective
        self.known = known or {}
        self.scores: dict[tuple, float | None] = {}  # (values, fidelity) -> score, for this tuning
        self.history: list[Evaluation] = []
        self.called = 0
        self.semaphore = asyncio.Semaphore(max(1, concurrency))

    @property
    def used(self) -> int:
        return len(self.scores)

    def new_points(self, points: list[Values], fidelity: str) -> list[Values]:
        """The distinct points of `points` not scored yet in this tuning, in order."""
        out, seen = [], set()
        for p in points:
            key = (p, fidelity)
            if key not in self.scores and key not in seen:
                seen.add(key)
                out.append(p)
        return out

    async def score(self, points: list[Values], fidelity: str) -> list[float | None]:
        fresh = self.new_points(points, fidelity)

        async def one(values: Values) -> float | None:
            async with self.semaphore:
                return _finite(await self.objective(values, fidelity))

        calls = [p for p in fresh if (p, fidelity) not in self.known]
        results = await asyncio.gather(*(one(p) for p in calls))
        answered = dict(zip(calls, results))
        for p in fresh:  # record in proposal order, whatever order the calls finished in
            reused = p not in answered
            score = _finite(self.known[(p, fidelity)]) if reused else answered[p]
            self.scores[(p, fidelity)] = score
            self.history.append(Evaluation(p, fidelity, score, reused))
        self.called += len(calls)
        return [self.scores[(p, fidelity)] for p in points]


def plan_budget(budget: int, *, screen: bool, confirm_top: int, baseline: bool) -> tuple[int, int]:
    """(search evaluations, confirmation evaluations) for a budget; the baseline, when evaluated, takes one."""
    left = budget - int(baseline)
    confirm = min(max(0, confirm_top), max(1, left // 4)) if screen else 0
    search = left - confirm
    if search < 1:
        raise TuningBudgetError(
            f"a tuning budget of {budget} evaluations leaves none for the search "
            f"(baseline {int(baseline)}, confirmation {confirm}); give at least {int(baseline) + confirm + 1}",
            budget=budget,
        )
    return search, confirm


async def tune(
    template: ConstantTemplate,
    objective: Objective,
    *,
    budget: int,
    seed: int,
    screen: bool = True,
    confirm_top: int = 3,
    concurrency: int = 1,
    original_score: float | None = None,
    known: dict[tuple, float | None] | None = None,
    method: str = "cma",
    popsize: int | None = None,
    span: float = 3.0,
    zero_range: float = 1.0,
    sigma0: float = 0.3,
    digits: int = 4,
    signs: str = "keep",
) -> TuneResult:
    """Tune `template`'s parameters to minimise `objective(values, fidelity)` within `budget` evaluations.

    Budget: one unit per distinct (values, fidelity) point scored, screen and full alike, including points
    answered from `known` (so a resumed tuning spends its budget exactly as the first run did); a repeated point
    is free. The original is scored on "full" first unless `original_score` is given (then it costs nothing).
    With `screen`, the search runs on "screen" and the best `confirm_top` distinct points are then re-scored on
    "full"; without it the search runs on "full". The result is the best full score (the original wins ties).
    Points are proposed `popsize` at a time (default: CMA-ES's own, at least `concurrency`) and scored up to
    `concurrency` at a time; for a given seed, template and popsize the proposals are the same on every run.
    `signs="free"` lets nonzero floats change sign (see Space); the default keeps every sign as written.
    """
    if method not in METHODS:
        raise DiscoverError(f"unknown tuning method {method!r}; choose one of: {', '.join(METHODS)}")
    scorer = _Scorer(objective, known, concurrency)
    original = template.values
    baseline_needed = original_score is None
    n_search, n_confirm = plan_budget(budget, screen=screen, confirm_top=confirm_top, baseline=baseline_needed)
    if baseline_needed:
        (original_score,) = await scorer.score([original], FULL)
    else:
        original_score = _finite(original_score)

    full_scores: dict[Values, float | None] = {original: original_score}
    popsize_used = (popsize or max(default_popsize(len(template)), concurrency)) if len(template) else 0
    if len(template):
        search_fidelity = SCREEN if screen else FULL
        searched = await _search(
            scorer, Space(template, span, zero_range, digits, signs), search_fidelity, n_search, seed, method,
            popsize_used, sigma0,
        )
        if screen:
            # searched is in proposal order, so a stable sort breaks score ties by who came first
            ranked = sorted((ps for ps in searched if ps[1] is not None and ps[0] != original), key=lambda ps: ps[1])
            confirm = [p for p, _ in ranked[:n_confirm]]
            for p, s in zip(confirm, await scorer.score(confirm, FULL)):
                full_scores[p] = s
        else:
            full_scores.update(searched)

    best_values, best_score = original, original_score
    for values, score in full_scores.items():  # insertion order: the original first, so it wins ties
        if score is not None and (best_score is None or score < best_score):
            best_values, best_score = values, score
    return TuneResult(
        best_values=best_values,
        best_code=template.render(best_values),
        best_score=best_score,
        original_score=original_score,
        evaluations_used=scorer.used,
        evaluations_called=scorer.called,
        history=scorer.history,
        params=template.as_dict(best_values),
        original_params=template.as_dict(),
        settings={"budget": budget, "seed": seed, "method": method, "signs": signs, "screen": screen,
                  "confirm_top": confirm_top, "popsize": popsize_used},
    )


async def _search(
    scorer: _Scorer, space: Space, fidelity: str, n_evaluations: int, seed: int, method: str,
    popsize: int, sigma0: float,
) -> list[tuple[Values, float | None]]:
    """Spend `n_evaluations` new evaluations on `fidelity`; returns each distinct point scored with its score."""
    proposer = _Proposer(method, space.z0, seed, popsize, sigma0)
    start = scorer.used
    scored: dict[Values, float | None] = {}
    stalled = 0  # rounds in a row without a new point: a space of few int points runs out; stop, not spin
    while stalled < STALL_ROUNDS:
        left = n_evaluations - (scorer.used - start)
        if left <= 0:
            break
        zs = proposer.ask()
        points = [space.values(z) for z in zs]
        fresh = scorer.new_points(points, fidelity)
        stalled = 0 if fresh else stalled + 1
        if len(fresh) > left:  # the last round: score only what the budget pays for, tell nothing
            keep = set(fresh[:left])
            take = [p for p in points if p in keep or (p, fidelity) in scorer.scores]
            for p, s in zip(take, await scorer.score(take, fidelity)):
                scored.setdefault(p, s)
            break
        scores = await scorer.score(points, fidelity)
        for p, s in zip(points, scores):
            scored.setdefault(p, s)
        finite = [s for (_, f), s in scorer.scores.items() if f == fidelity and s is not None]
        worst = max(finite) if finite else 0.0
        penalty = worst + 1.0 + abs(worst)  # failures rank below every valid point
        proposer.tell(zs, [penalty if s is None else s for s in scores])
    return list(scored.items())
