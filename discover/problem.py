"""Load and validate a problem folder (problems/<name>/ or any path). Nothing problem-specific lives here."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from discover.errors import ProblemError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_PROBLEMS_DIR = PACKAGE_ROOT / "problems"


class Entry(BaseModel):
    name: str
    signature: str
    docstring: str = ""
    imports: str = ""


class Score(BaseModel):
    direction: Literal["minimize", "maximize"]
    unit: str = ""
    optimum: float | None = None  # the score of an optimal solution where one is known (0 for a gap to optimal)


class Limits(BaseModel):
    timeout_s: float = Field(60.0, gt=0)   # wall clock for the candidate side of one instance set
    memory_mb: int = Field(1024, gt=0)     # for the candidate's whole process tree
    scratch_mb: int = Field(256, gt=0)     # its private scratch dir, fresh per evaluation
    cpus: float = Field(1.0, gt=0)         # per evaluation (cluster executors schedule by it)
    gpus: int = Field(0, ge=0)             # > 0: GPU passthrough


class SandboxFiles(BaseModel):
    files: list[str] = Field(default_factory=list)  # candidate-side modules besides evaluate.py


class SearchDefaults(BaseModel):
    """What suits this problem's search, unless a run config says otherwise."""

    tune_budget: int = Field(0, ge=0)  # evaluations per numeric tuning of a top candidate (cheap evaluations: ~40)
    timeout_s: float | None = Field(None, gt=0)  # the search's wall clock when a run sets none


class Splits(BaseModel):
    train: list[str] = Field(min_length=1)
    test: list[str] = Field(default_factory=list)


class ProblemSpec(BaseModel):
    name: str
    kind: Literal["code", "prompt", "program"] = "code"
    description: str
    entry: Entry
    score: Score
    limits: Limits = Limits()
    sandbox: SandboxFiles = SandboxFiles()
    search: SearchDefaults = SearchDefaults()
    splits: Splits
    baselines: dict[str, dict[str, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _signature_names_entry(self) -> "ProblemSpec":
        if f"def {self.entry.name}(" not in self.entry.signature:
            raise ValueError(f"entry.signature must define `def {self.entry.name}(...)`")
        return self


class Problem:
    """A problem folder: spec + evaluator + seed + data."""

    def __init__(self, root: Path, spec: ProblemSpec, seed_code: str,
                 extra_seeds: list[tuple[str, str]] | None = None) -> None:
        self.root = root
        self.spec = spec
        self.seed_code = seed_code
        # seeds/*.py: further documented starting points (priors), evaluated before the search starts
        self.extra_seeds = list(extra_seeds or [])

    @property
    def seeds(self) -> list[tuple[str, str]]:
        """(name, code) of every starting point: seed.py first, then seeds/*.py by name."""
        return [("seed", self.seed_code), *self.extra_seeds]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def minimize(self) -> bool:
        return self.spec.score.direction == "minimize"

    def better(self, a: float | None, b: float | None) -> bool:
        """True if score a is strictly better than b (None is worst)."""
        if a is None:
            return False
        if b is None:
            return True
        return a < b if self.minimize else a > b

    def sort_key(self, score: float | None) -> float:
        """Ascending key: smaller is better, None last."""
        if score is None:
            return float("inf")
        return score if self.minimize else -score


def builtin_problem_names() -> list[str]:
    if not BUILTIN_PROBLEMS_DIR.is_dir():
        return []
    return sorted(p.name for p in BUILTIN_PROBLEMS_DIR.iterdir() if (p / "problem.toml").is_file())


def resolve_problem_dir(name_or_path: str) -> Path:
    candidate = Path(name_or_path).expanduser()
    if (candidate / "problem.toml").is_file():
        return candidate.resolve()
    builtin = BUILTIN_PROBLEMS_DIR / name_or_path
    if (builtin / "problem.toml").is_file():
        return builtin.resolve()
    known = ", ".join(builtin_problem_names()) or "none"
    raise ProblemError(
        f"no problem named {name_or_path!r}: not a folder with problem.toml, and not built in (built-in: {known})",
        problem=name_or_path,
    )


def _format_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def load_problem(name_or_path: str) -> Problem:
    root = resolve_problem_dir(name_or_path)
    toml_path = root / "problem.toml"
    try:
        raw = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{toml_path}: not valid TOML: {exc}", path=str(toml_path)) from exc
    try:
        spec = ProblemSpec.model_validate(raw)
    except ValidationError as exc:
        raise ProblemError(f"{toml_path}: {_format_validation_error(exc)}", path=str(toml_path)) from exc
    if spec.kind == "code":
        for required in ("evaluate.py", "seed.py"):
            if not (root / required).is_file():
                raise ProblemError(f"{root}: missing {required} (a code problem needs evaluate.py and seed.py)", path=str(root))
        from discover.contract import check_evaluator_source

        check_evaluator_source(root)
        seed_code = (root / "seed.py").read_text()
        extra = [(p.stem, p.read_text()) for p in sorted((root / "seeds").glob("*.py"))] if (root / "seeds").is_dir() else []
        for name, code in [("seed.py", seed_code)] + [(f"seeds/{n}.py", c) for n, c in extra]:
            if f"def {spec.entry.name}(" not in code:
                raise ProblemError(f"{root / name}: does not define the entry function `{spec.entry.name}`", path=str(root))
        return Problem(root, spec, seed_code, extra)
    seed_code = (root / "seed.txt").read_text() if (root / "seed.txt").is_file() else ""
    return Problem(root, spec, seed_code)
