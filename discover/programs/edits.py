"""Apply an LLM's answer to a Program: all edits or none, each refusal one line the LLM can act on."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

from discover.extract import MalformedOutput
from discover.programs.answers import (BlockRewrite, SearchReplace, looks_like_diff, parse_diff, parse_rewrite,
                                       strip_line_numbers)
from discover.programs.blocks import Block, Program, ProgramError, marker
from discover.programs.matching import Match, closest, find_matches, reindent


class EditError(MalformedOutput):
    """The answer's edits cannot be applied; nothing was. `failures` holds one line per failed edit."""

    def __init__(self, failures: list[str], total: int | None = None) -> None:
        self.failures = list(failures)
        head = "nothing applied"
        if total:
            head = f"{len(self.failures)} of {total} edits failed, nothing applied"
        super().__init__(f"{head}: " + "; ".join(self.failures))


@dataclass(frozen=True)
class AppliedEdit:
    number: int  # the edit's position in the answer
    file: str
    block: str  # the block's label (name or index)
    lines: tuple[int, int]  # 1-based first and last line replaced, as the file stood when this edit applied
    match: str  # "exact", "trailing whitespace", "blank lines", "indentation" or "block rewrite"


@dataclass
class EditResult:
    program: Program
    diffs: dict[str, str]  # unified diff per changed file
    applied: list[AppliedEdit]
    notes: list[str] = field(default_factory=list)  # tolerated deviations, no-op edits: worth telling the LLM


@dataclass(frozen=True)
class _Planned:
    """An edit located in the original file: replace lines [start, stop) (0-based) with `lines`."""

    applied: AppliedEdit
    start: int
    stop: int
    lines: list[str]


class _Original:
    """The program as the LLM saw it: every edit is located here, so line numbers in messages are the shown ones."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.lines = {p: t.splitlines() for p, t in program.files.items()}
        self.by_file = {p: [b for b in program.blocks() if b.file == p] for p in program.files}

    def blocks(self, path: str) -> list[Block]:
        return self.by_file[path]


def apply_edits(program: Program, answer: str, fmt: Literal["auto", "diff", "rewrite"] = "auto") -> EditResult:
    """Apply every edit in `answer` (SEARCH/REPLACE blocks or block rewrites) or raise EditError.

    `fmt="auto"` reads the answer as SEARCH/REPLACE when it holds any such marker line, else as block rewrites.
    """
    if not answer or not answer.strip():
        raise EditError(["empty answer"])
    diff = fmt == "diff" or (fmt == "auto" and looks_like_diff(answer))
    parsed = parse_diff(answer) if diff else parse_rewrite(answer)
    original = _Original(program)
    failures = list(parsed.failures)
    notes = list(parsed.notes)
    planned: list[_Planned] = []
    rewritten: set[str] = set()
    for edit in parsed.edits:
        try:
            if isinstance(edit, SearchReplace):
                planned.append(_plan_search_replace(original, edit, notes))
            else:
                planned.append(_plan_rewrite(original, edit, rewritten, notes))
        except _Refused as refused:
            failures.append(f"edit {edit.number} (answer line {edit.line}): {refused}")
    failures.extend(_overlaps(planned))
    total = len(parsed.edits) + len(parsed.failures)
    if failures:
        failures.sort(key=_edit_number)
        raise EditError(failures, total if total > 1 else None)
    changed = {}
    for path in sorted({p.applied.file for p in planned}):
        lines = list(original.lines[path])
        mine = sorted((p for p in planned if p.applied.file == path), key=lambda p: p.start, reverse=True)
        for edit in mine:  # bottom up, so earlier line numbers stay valid
            lines[edit.start:edit.stop] = edit.lines
        text = "\n".join(lines) + ("\n" if program.files[path].endswith("\n") else "")
        if text != program.files[path]:
            changed[path] = text
    if not changed:
        raise EditError(["the answer changes nothing: its code equals the current code"])
    try:
        result = program.replace_files(changed)
    except ProgramError as exc:  # unreachable while markers cannot be edited; kept as a guard
        raise EditError([f"the edited program is invalid: {exc}"]) from exc
    errors = result.syntax_errors(changed)  # only what the edits touched: the LLM can act on that
    if errors:
        raise EditError([f"after the edits, {e}" for e in errors])
    diffs = {p: "".join(difflib.unified_diff(program.files[p].splitlines(keepends=True),
                                             changed[p].splitlines(keepends=True), f"a/{p}", f"b/{p}"))
             for p in changed}
    return EditResult(result, diffs, sorted((p.applied for p in planned), key=lambda a: a.number), notes)


def _overlaps(planned: list[_Planned]) -> list[str]:
    out = []
    ordered = sorted(planned, key=lambda p: (p.applied.file, p.start))
    for before, after in zip(ordered, ordered[1:]):
        if before.applied.file == after.applied.file and after.start < before.stop:
            out.append(f"edit {after.applied.number}: it changes {after.applied.file} lines {after.start + 1}-"
                       f"{after.stop}, which overlap edit {before.applied.number} (lines {before.start + 1}-"
                       f"{before.stop}); merge them into one edit")
    return out


def _edit_number(failure: str) -> int:
    head = failure.split(" ", 2)
    number = head[1].rstrip(":") if len(head) > 1 else ""
    return int(number) if head[0] == "edit" and number.isdigit() else 0


class _Refused(Exception):
    pass


def _resolve_path(work: _Original, path: str) -> str:
    files = list(work.lines)
    if path in files:
        return path
    by_suffix = [f for f in files if f.endswith("/" + path)]
    if len(by_suffix) == 1:
        return by_suffix[0]
    with_blocks = ", ".join(work.program.files_with_blocks())
    raise _Refused(f"no file {path!r} in the program (files with EVOLVE blocks: {with_blocks})")


def _strip_marker_context(edit: SearchReplace, notes: list[str]) -> tuple[list[str], list[str], str | None, str | None]:
    """Models often copy a marker line as an anchor on both sides; unchanged, it edits nothing, so drop it."""
    search, replace = list(edit.search), list(edit.replace)
    after = before = None
    if search and marker(search[0]) and marker(search[0])["kind"] == "START" and replace \
            and replace[0].strip() == search[0].strip():
        after = search[0].strip()
        search, replace = search[1:], replace[1:]
    if search and marker(search[-1]) and marker(search[-1])["kind"] == "END" and replace \
            and replace[-1].strip() == search[-1].strip():
        before = search[-1].strip()
        search, replace = search[:-1], replace[:-1]
    if after or before:
        notes.append(f"edit {edit.number}: the unchanged marker lines it quoted were kept as they are")
    for line in search:
        if marker(line):
            raise _Refused(f"SEARCH includes the marker line `{line.strip()}`: markers may not be edited; "
                           f"SEARCH and replace only lines between them")
    for line in replace:
        if marker(line):
            raise _Refused(f"REPLACE includes the marker line `{line.strip()}`: blocks cannot be added or removed")
    return search, replace, after, before


def _inside(match: Match, blocks: list[Block], lines: list[str], after: str | None,
            before: str | None) -> Block | None:
    for b in blocks:
        first, last = match.start + 1, match.stop  # 1-based lines covered
        if not (b.start < first and last < b.end):
            continue
        # A quoted START/END marker anchors the match to the block's first/last lines (blanks between allowed).
        if after and any(lines[i].strip() for i in range(b.start, match.start)):
            continue
        if before and any(lines[i].strip() for i in range(match.stop, b.end - 1)):
            continue
        return b
    return None


def _locate(work: _Original, path: str, search: list[str], after, before) -> list[tuple[Match, Block | None]]:
    lines = work.lines[path]
    blocks = work.blocks(path)
    return [(m, _inside(m, blocks, lines, after, before)) for m in find_matches(lines, search)]


def _plan_search_replace(work: _Original, edit: SearchReplace, notes: list[str]) -> _Planned:
    if not any(line.strip() for line in edit.search):
        raise _Refused("SEARCH is empty: copy the exact existing lines to change between SEARCH and =======")
    numbered = strip_line_numbers(edit.search, edit.replace)
    if numbered is not None:
        edit = SearchReplace(edit.number, edit.line, edit.path, *numbered, path_guessed=edit.path_guessed)
        notes.append(f"edit {edit.number}: the line numbers copied into it were removed")
    search, replace, after, before = _strip_marker_context(edit, notes)
    if not any(line.strip() for line in search):
        raise _Refused("SEARCH holds only marker lines: copy the lines inside the block that you want to change")
    path = edit.path
    if path is not None and edit.path_guessed:
        try:
            _resolve_path(work, path)
        except _Refused:
            path = None  # the line above the edit was not a file name after all
    if path is not None:
        paths = [_resolve_path(work, path)]
        if not work.blocks(paths[0]):
            raise _Refused(f"{paths[0]} has no EVOLVE block: only code between the markers may change")
    else:
        paths = [p for p in work.lines if work.blocks(p)]
    found = {p: _locate(work, p, search, after, before) for p in paths}
    inside = [(p, m, b) for p, hits in found.items() for m, b in hits if b is not None]
    if len(inside) > 1:
        where = ", ".join(f"{p} {m.describe()}" for p, m, _ in inside)
        raise _Refused(f"SEARCH text occurs {len(inside)} times ({where}); include more surrounding lines so it "
                       f"matches exactly once")
    if not inside:
        outside = [(p, m) for p, hits in found.items() for m, _ in hits]
        if outside:
            p, m = outside[0]
            raise _Refused(f"SEARCH text matches {p} {m.describe()}, outside every EVOLVE block: only code between "
                           f"# EVOLVE-BLOCK-START and # EVOLVE-BLOCK-END may change")
        hint = ""
        if len(paths) == 1:
            allowed = {i - 1 for b in work.blocks(paths[0]) for i in b.body_lines}
            hint = closest(work.lines[paths[0]], search, allowed)
        target = paths[0] if len(paths) == 1 else "any file with EVOLVE blocks"
        raise _Refused(f"SEARCH text not found in {target}{hint}; copy the lines exactly as shown")
    path, match, block = inside[0]
    new_lines = reindent(replace, match.shift) if match.kind == "indentation" else replace
    if work.lines[path][match.start:match.stop] == new_lines:
        notes.append(f"edit {edit.number} changes nothing")
    if match.kind != "exact":
        how = {"trailing whitespace": "ignoring trailing spaces", "blank lines": "ignoring blank lines",
               "indentation": f"after shifting indentation by {_shift_text(match.shift)}"}[match.kind]
        notes.append(f"edit {edit.number} matched {path} {match.describe()} {how}")
    applied = AppliedEdit(edit.number, path, block.label, (match.start + 1, match.stop), match.kind)
    return _Planned(applied, match.start, match.stop, new_lines)


def _shift_text(shift: tuple[str, str]) -> str:
    added, removed = shift
    text = added or removed
    unit = "tabs" if "\t" in text else "spaces"
    return f"{'+' if added else '-'}{len(text)} {unit}"


def _defines(text: str, name: str) -> bool:
    return re.search(rf"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+{re.escape(name)}\b", text, re.MULTILINE) is not None


def _block_for_label(work: _Original, label: str, notes: list[str], number: int) -> Block:
    blocks = work.program.blocks()
    matching = [b for b in blocks if b.label == label or str(b.index) == label]
    if matching:
        return matching[0]
    # Small models head the code with the function's name rather than the block's: accept it when one block
    # defines that function.
    defining = [b for b in blocks if _defines(b.text, label)]
    if len(defining) == 1:
        notes.append(f"edit {number}: 'Block {label}' read as block {defining[0].label}, which defines {label}")
        return defining[0]
    listed = "; ".join(b.describe() for b in blocks)
    if any(_defines(text, label) for text in work.program.files.values()):
        raise _Refused(f"{label} is defined outside every EVOLVE block and cannot change; blocks: {listed}")
    raise _Refused(f"no block {label!r}; blocks: {listed}")


def _plan_rewrite(work: _Original, edit: BlockRewrite, rewritten: set[str], notes: list[str]) -> _Planned:
    blocks = work.program.blocks()
    if edit.label is None:
        if len(blocks) != 1:
            labels = ", ".join(b.label for b in blocks)
            raise _Refused(f"which block? the program has {len(blocks)} ({labels}); put 'Block: <name or index>' "
                           f"on the line above the code")
        block = blocks[0]
    else:
        block = _block_for_label(work, edit.label, notes, edit.number)
    if edit.marker_name and block.name and edit.marker_name != block.name:
        raise _Refused(f"the code is headed block {edit.label!r} but its marker names {edit.marker_name!r}")
    if block.label in rewritten:
        raise _Refused(f"block {block.label} is rewritten twice; give one new body per block")
    body = list(edit.body)
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    if not body:
        raise _Refused(f"the new body of block {block.label} is empty")
    rewritten.add(block.label)
    applied = AppliedEdit(edit.number, block.file, block.label, (block.start + 1, block.end - 1), "block rewrite")
    return _Planned(applied, block.start, block.end - 1, _to_block_indent(body, block))


def _to_block_indent(body: list[str], block: Block) -> list[str]:
    """Shift a rewritten body so its least-indented line sits where the old body's did (models often dedent)."""
    def least(lines: list[str]) -> str:
        indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
        return min(indents, key=len) if indents else ""

    old = least(block.text.splitlines()) if block.text.strip() else block.indent
    new = least(body)
    if new == old:
        return body
    if old.startswith(new):
        return reindent(body, (old[len(new):], ""))
    if new.startswith(old):
        return reindent(body, ("", new[len(old):]))
    return body
