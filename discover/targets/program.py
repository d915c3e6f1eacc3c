"""The program target (kind "program"): a candidate is a whole program (one or several files with EVOLVE blocks,
docs/programs.md), stored as `Program.to_text()`. The LLM sees the parent's program rendered with its blocks and
answers with SEARCH/REPLACE edits (or block rewrites, for `local/` models); parsing applies them to the parent with
`apply_edits`, so a refused edit is a MalformedOutput that the loop records as rejected with its one-line reason.

A problem declares its program in problem.toml:

    kind = "program"
    [program]
    files = ["program.py"]      # the program's files, relative to the folder; the first is the candidate module
    format = "diff"             # optional: "diff" or "rewrite" (default: rewrite for local/ models, else diff)

Which parent an answer edits: the loop's Target.parse(text, prefix) is not told the proposal's parents, so the
"edit" operator below puts a marker naming the parent's fingerprint in the proposal's `prefix` (persisted with the
proposal, handed back to parse; never sent to the model, since this operator does not prefill). The target keeps
every program it has seen by fingerprint; a resumed proposal whose parent it has not seen yet is applied to the
first known program the edits apply to, the seed first."""

from __future__ import annotations

import contextlib
import copy
import re
import tomllib
from typing import Any, Iterator

from discover.errors import ProblemError
from discover.extract import MalformedOutput
from discover.feedback import Outcome, Reference
from discover.operators.base import CandidateView, Proposal, ProposeContext, lessons_block, render
from discover.operators.registry import register_operator, register_strategy
from discover.problem import Problem
from discover.programs import Program, answer_format, apply_edits, render_program, thought_of
from discover.targets.base import Parsed, Seed, Stage
from discover.targets import register_target
from discover.targets.code import CodeTarget
from discover.archives.novelty import NoveltyCheck
from discover.evaluation import outcome_from

REFUSAL_PREAMBLE = re.compile(r"^(?:\d+ of \d+ edits failed, )?nothing applied: (?:edit 1 \(answer line \d+\): )?")
PARENT_MARK = "# parent program "  # + fingerprint + newline, at the start of a proposal's prefix


def program_spec(problem: Problem) -> dict[str, Any]:
    """problem.toml's [program] and [archive] tables (ProblemSpec ignores tables it does not model)."""
    path = problem.root / "problem.toml"
    data = tomllib.loads(path.read_text())
    table, archive = data.get("program") or {}, data.get("archive") or {}
    files = table.get("files") or ["program.py"]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ProblemError(f"{path}: [program] files must be a list of paths", path=str(path))
    fmt = table.get("format")
    if fmt not in (None, "diff", "rewrite"):
        raise ProblemError(f"{path}: [program] format must be \"diff\" or \"rewrite\" (got {fmt!r})", path=str(path))
    features = archive.get("features")
    if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
        raise ProblemError(f"{path}: [archive] features must be a list of metric names", path=str(path))
    novelty = archive.get("novelty")
    if novelty is not None and not (isinstance(novelty, (int, float)) and 0 < novelty <= 1):
        raise ProblemError(f"{path}: [archive] novelty must be a similarity in (0, 1] (got {novelty!r})", path=str(path))
    return {"files": files, "format": fmt, "features": tuple(features or ()), "novelty": novelty}


def load_program(problem: Problem, files: list[str]) -> Program:
    texts = {}
    for name in files:
        p = problem.root / name
        try:
            texts[name] = p.read_text()
        except OSError as exc:
            raise ProblemError(f"{problem.root / 'problem.toml'}: [program] file {name!r} cannot be read "
                               f"({exc.strerror})", path=str(p)) from exc
    program = Program(texts)
    if not program.blocks():
        raise ProblemError(f"{problem.root / 'problem.toml'}: the program ({', '.join(files)}) has no EVOLVE block",
                           path=str(problem.root))
    return program


class ProgramTarget(CodeTarget):
    kind = "program"
    default_strategy = "program-edits"

    def __init__(self, problem: Problem, evaluator: Any, config: Any) -> None:
        super().__init__(problem, evaluator, config)
        spec = program_spec(problem)
        self.main = spec["files"][0]
        self.program = load_program(problem, spec["files"])
        local = str(config.model or "").startswith("local/")
        self.features = spec["features"]  # MAP-Elites dimensions the problem declares (empty: the defaults)
        self.answer_kind = spec["format"] or ("rewrite" if local else "diff")
        self.max_tokens = config.max_tokens or 1500
        self._known: dict[str, Program] = {}
        # [archive] novelty = 0.98: an answer whose program is that similar to one already seen is refused unscored
        self.novelty = NoveltyCheck(spec["novelty"]) if spec["novelty"] else None
        self.remember(self.program)

    # -- programs by fingerprint ----------------------------------------------------------------------------------
    def remember(self, program: Program) -> str:
        fp = program.content_hash()
        if fp not in self._known:
            self._known[fp] = program
            if self.novelty is not None:
                self.novelty.remember(f"program {fp[:12]}", _joined(program))
        return fp

    def remember_text(self, content: str) -> str:
        return self.remember(Program.from_text(content))

    def seed(self) -> Seed:
        return Seed(content=self.program.to_text(), thought="the problem's program", operator="seed")

    def seeds(self) -> list[Seed]:
        return [self.seed()]

    def fingerprint(self, content: str) -> str:
        try:
            return Program.from_text(content).content_hash()
        except Exception:  # a rejected answer's raw text is fingerprinted too
            return super().fingerprint(content)

    def render(self, content: str) -> str:
        program = Program.from_text(content)
        self.remember(program)
        return render_program(program)

    def stop_sequences(self, prefix: str) -> list[str] | None:
        return None

    def parent_marker(self, content: str) -> str:
        return f"{PARENT_MARK}{self.remember_text(content)}\n"

    def parse(self, text: str, prefix: str = "") -> Parsed:
        fp = None
        if prefix.startswith(PARENT_MARK):
            line, _, prefix = prefix.partition("\n")
            fp = line[len(PARENT_MARK):].strip()
        answer = prefix + text
        parent = self._known.get(fp) if fp else None
        if parent is not None:
            result = apply_edits(parent, answer)
        else:  # a resumed proposal whose parent was not shown yet: the first known program the edits fit
            result, first_error = None, None
            for program in self._known.values():
                try:
                    result = apply_edits(program, answer)
                    break
                except MalformedOutput as exc:
                    first_error = first_error or exc
            if result is None:
                raise first_error or MalformedOutput("no program to apply the edits to")
        if self.novelty is not None and result.program.content_hash() not in self._known:
            hit = self.novelty.near_duplicate(_joined(result.program))
            if hit is not None:
                raise MalformedOutput(hit.reason(self.novelty.threshold))
        self.remember(result.program)
        return Parsed(content=result.program.to_text(), thought=thought_of(answer))

    def feedback(self, thought: str, outcome: Outcome, parent: Reference | None, best: Reference | None) -> str:
        text = super().feedback(thought, outcome, parent, best)
        if outcome.status != "rejected" or not outcome.error:
            return text
        # The lesson later prompts see is one line of 200 characters: keep the refusal itself, not its preamble.
        reason = REFUSAL_PREAMBLE.sub("", outcome.error.removeprefix("unusable response: "))
        lesson = f"Stop doing: edits that cannot be applied ({' '.join(reason.split())[:180]})."
        return "\n".join(lesson if line.startswith("Stop doing:") else line for line in text.splitlines())

    async def evaluate(self, content: str, *, split: str, sets: list[str] | None = None, prior: Stage | None = None,
                       deadline: float | None = None) -> Stage:
        sets = list(sets if sets is not None else (self.train_sets if split == "train" else self.test_sets))
        files = Program.from_text(content).files
        evaluator = self.evaluator
        others = {name: text for name, text in files.items() if name != self.main and name.endswith(".py")}
        if others and hasattr(evaluator, "files"):
            # the program's other files travel as candidate-side modules beside the main one (importable by name)
            evaluator = copy.copy(evaluator)
            evaluator.files = {**evaluator.files, **others}
        results = await evaluator.evaluate(files[self.main], sets, split=split, deadline=deadline)
        return Stage(rows=list(zip(sets, results)), outcome=outcome_from(sets, results))


def _joined(program: Program) -> str:
    return "\n".join(program.files[name] for name in sorted(program.files))


# -- the operator and strategy that write program prompts ---------------------------------------------------------
class EditProgram:
    """Shows the parent's program (and the best program, when it is another one) and asks for edits to its blocks."""

    name = "edit"
    kinds = ("program",)
    parents = 1

    async def propose(self, ctx: ProposeContext) -> Proposal:
        target: ProgramTarget = ctx.target
        _attach_describer(ctx)
        parent = ctx.parents[0] if ctx.parents else (ctx.best or _seed_view(ctx))
        parent_text = _stored_text(ctx, parent) if parent else target.program.to_text()
        program = Program.from_text(parent_text)
        others = ""
        if ctx.best is not None and parent is not None and ctx.best.id != parent.id:
            others = (f"\nThe best program so far (score {_score(ctx.best)}), for ideas:\n"
                      f"{render_program(Program.from_text(_stored_text(ctx, ctx.best)))}\n")
        feedback = f"\nEvaluator feedback on it:\n{parent.feedback.strip()}\n" if parent and parent.feedback else ""
        user = render_program_prompt(target, program, parent, feedback + others, ctx.lessons)
        messages = [{"role": "system", "content": render("system.txt").strip()}, {"role": "user", "content": user}]
        return Proposal(operator=self.name, parents=[parent] if parent else [], messages=messages,
                        prefix=target.parent_marker(parent_text), meta={"parent_ids": [parent.id] if parent else []})


def render_program_prompt(target: ProgramTarget, program: Program, parent: CandidateView | None, feedback: str,
                          lessons: list[str]) -> str:
    from discover.programs.render import render_template

    spec = target.problem.spec
    task = (f"{spec.description.strip()}\n\nScore: {spec.score.unit or 'score'}, "
            f"{'lower' if target.minimize else 'higher'} is better.")
    return render_template("program/program.txt", task=task, score=_score(parent) if parent else "n/a",
                           program=render_program(program), feedback=feedback, lessons=lessons_block(lessons),
                           answer_format=answer_format(program, target.answer_kind)).strip()


def _attach_describer(ctx: ProposeContext) -> None:
    """A MAP-Elites archive places candidates by features of their code and evaluations, read from the store."""
    archive = ctx.archive
    if ctx.store is None or not hasattr(archive, "describe_with") or getattr(archive, "describer", None) is not None:
        return
    from discover.archives.map_elites import DEFAULT_FEATURES, store_describer

    names = ctx.target.features or DEFAULT_FEATURES
    archive.describe_with(store_describer(ctx.store, names, text_of=lambda code: "\n".join(
        Program.from_text(code).files.values())))


def _seed_view(ctx: ProposeContext) -> CandidateView | None:
    """The seed, when the archive offers no parent yet (generation 0 of a generational run): it is what is edited."""
    if ctx.store is None:
        return None
    seed = next((c for c in ctx.store.candidates(ctx.run_id) if c.operator == "seed" and c.generation == 0
                 and c.slot == 0), None)
    if seed is None:
        return None
    return CandidateView(id=seed.id, thought=seed.thought, code=ctx.target.render(seed.code), score=seed.train_score,
                         generation=0, feedback=ctx.store.feedback_for(seed.id))


def _stored_text(ctx: ProposeContext, view: CandidateView) -> str:
    """A view's code is the rendering; the program itself is the stored candidate's text."""
    row = ctx.store.get_candidate(view.id) if ctx.store is not None else None
    return row.code if row is not None else ctx.target.program.to_text()


def _score(view: CandidateView | None) -> str:
    return "n/a" if view is None or view.score is None else f"{view.score:.6g}"


class ProgramEdits:
    name = "program-edits"

    def operator_for(self, generation: int, slot: int, n_members: int) -> str:
        return "edit"


register_operator(EditProgram())
register_strategy(ProgramEdits())


@contextlib.contextmanager
def open_program(config: Any, root: Any, evaluator: Any = None, **_: Any) -> Iterator[ProgramTarget]:
    from discover.problem import load_problem
    from discover.targets.code import open_code_evaluator

    problem = load_problem(str(root))
    if evaluator is not None:
        yield ProgramTarget(problem, evaluator, config)
        return
    with open_code_evaluator(problem, config) as ev:
        yield ProgramTarget(problem, ev, config)


register_target("program", open_program)
