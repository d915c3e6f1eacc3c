"""Parse an LLM answer into edits: SEARCH/REPLACE blocks, or full rewrites of named blocks.

Parsing does not look at the program: which file, block and lines an edit applies to is edits.py's job. Paths are
only cleaned here (a file name in backticks, after "File:", or on its own line above the edit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from discover.programs.blocks import marker

OPEN = re.compile(r"^\s*<{5,9}\s*SEARCH\b[ \t:]*(?P<path>.*?)\s*$")
DIVIDER = re.compile(r"^\s*={5,9}\s*$")
CLOSE = re.compile(r"^\s*>{5,9}\s*REPLACE\b.*$")
FENCE = re.compile(r"^\s*(?P<ticks>`{3,})(?P<info>[^`]*)$")
# The prefix render_file(line_numbers=True) puts on each line; models copy it into SEARCH.
LINE_NUMBER = re.compile(r"^ *\d+ \|(?: |$)")
THOUGHT = re.compile(r"^\W*(?:thought|idea)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
# "Block: scoring", "### Block 1", "**Block `scoring`**": a line that is only the word block and a label.
BLOCK_HEADER = re.compile(r"^[\W_]*block[\s:#=`'\"*]*(?P<label>[A-Za-z0-9_][\w.-]*)[\s:`'\"*.]*$", re.IGNORECASE)


@dataclass
class SearchReplace:
    number: int  # 1-based position among the answer's edits
    line: int  # answer line of its <<<<<<< SEARCH
    path: str | None
    search: list[str]
    replace: list[str]
    path_guessed: bool = False  # read from the line above the edit: ignored when it names no file


@dataclass
class BlockRewrite:
    number: int
    line: int
    label: str | None  # None: the program must have exactly one block
    body: list[str]
    marker_name: str | None = None  # the name on a START marker the model wrapped the body in


@dataclass
class ParsedAnswer:
    edits: list[SearchReplace | BlockRewrite] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def thought_of(answer: str) -> str:
    """The answer's one-sentence idea: its "Thought:" line, else the prose before the first edit or code block."""
    found = THOUGHT.search(answer)
    if found:
        return " ".join(found.group(1).split())[:500]
    prose = []
    for line in answer.splitlines():
        if OPEN.match(line) or FENCE.match(line) or BLOCK_HEADER.match(line.strip()):
            break
        prose.append(line)
    return " ".join(" ".join(prose).split())[:300]


def strip_line_numbers(search: list[str], replace: list[str]) -> tuple[list[str], list[str]] | None:
    """SEARCH/REPLACE without copied `12 | ` prefixes, when every non-blank SEARCH line has one; else None."""
    if not any(line.strip() for line in search) or not all(LINE_NUMBER.match(x) for x in search if x.strip()):
        return None

    def strip(lines: list[str]) -> list[str]:
        return [LINE_NUMBER.sub("", line, count=1) for line in lines]

    return strip(search), strip(replace)


def looks_like_diff(text: str) -> bool:
    return any(OPEN.match(line) or CLOSE.match(line) for line in text.splitlines())


def _clean_path(raw: str) -> str | None:
    path = raw.strip().strip("`'\"*()[]<>").strip()
    path = re.sub(r"^(?:file|path)\s*:\s*", "", path, flags=re.IGNORECASE)
    path = path.strip("`'\"*:()[]<>").strip()
    if path.startswith("./"):
        path = path[2:]
    return path or None


def _heading_path(lines: list[str], opener: int) -> str | None:
    """A file name written on its own line just above the edit (aider style), fences and blanks skipped."""
    i = opener - 1
    while i >= 0 and (not lines[i].strip() or FENCE.match(lines[i])):
        i -= 1
    if i < 0:
        return None
    candidate = _clean_path(lines[i].lstrip("#").strip())
    if candidate and " " not in candidate and "." in candidate and not CLOSE.match(lines[i]):
        return candidate
    return None


def _unfence(section: list[str]) -> list[str]:
    """Drop a ``` line wrapped around a SEARCH or REPLACE section (models fence them though asked not to)."""
    if section and FENCE.match(section[0]):
        section = section[1:]
    if section and FENCE.match(section[-1]) and not FENCE.match(section[-1])["info"].strip():
        section = section[:-1]
    return section


def parse_diff(text: str) -> ParsedAnswer:
    lines = text.replace("\r\n", "\n").split("\n")
    out = ParsedAnswer()
    state = "outside"
    current: SearchReplace | None = None

    def fail(reason: str) -> None:
        number = current.number if current else len(out.edits) + len(out.failures) + 1
        where = f" (answer line {current.line})" if current else ""
        out.failures.append(f"edit {number}{where}: {reason}")

    count = 0
    for i, line in enumerate(lines):
        opened, divided, closed = OPEN.match(line), DIVIDER.match(line), CLOSE.match(line)
        if opened:
            if state == "search":
                fail(f"missing ======= after SEARCH (a new <<<<<<< SEARCH starts at answer line {i + 1})")
            elif state == "replace":
                fail(f"missing >>>>>>> REPLACE (a new <<<<<<< SEARCH starts at answer line {i + 1})")
            count += 1
            path = _clean_path(opened["path"]) if opened["path"] else _heading_path(lines, i)
            current = SearchReplace(count, i + 1, path, [], [], path_guessed=not opened["path"])
            state = "search"
        elif closed:
            if state == "outside":
                current = None
                count += 1
                out.failures.append(f"edit {count} (answer line {i + 1}): >>>>>>> REPLACE without <<<<<<< SEARCH")
            elif state == "search":
                fail("missing ======= between SEARCH and REPLACE")
            else:
                current.search, current.replace = _unfence(current.search), _unfence(current.replace)
                out.edits.append(current)
            state, current = "outside", None
        elif divided and state != "outside":
            if state == "replace":
                fail(f"a second ======= at answer line {i + 1} (one SEARCH, one =======, one REPLACE per edit)")
                state, current = "outside", None
            else:
                state = "replace"
        elif state == "search":
            current.search.append(line)
        elif state == "replace":
            current.replace.append(line)
    if state == "search":
        fail("missing ======= and >>>>>>> REPLACE (the answer ends inside SEARCH)")
    elif state == "replace":
        fail("missing >>>>>>> REPLACE (the answer ends inside the replacement)")
    if not out.edits and not out.failures:
        out.failures.append("no edit found: expected <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks")
    return out


def _fenced(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(line of the opening fence, code lines) for each fenced block; an unclosed last fence runs to the end."""
    blocks, i = [], 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        ticks, j = opened["ticks"], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(ticks) and not lines[j].strip().strip("`")):
            j += 1
        blocks.append((i, lines[i + 1:j]))
        i = j + 1
    return blocks


def _header_label(lines: list[str], fence: int, floor: int) -> str | None:
    for k in range(fence - 1, floor - 1, -1):
        found = BLOCK_HEADER.match(lines[k].strip())
        if found:
            return found["label"]
        if lines[k].strip() and k < fence - 3:  # only the few lines just above the fence name it
            break
    return None


def parse_rewrite(text: str) -> ParsedAnswer:
    """Fenced code blocks, each the new body of one block: named by a `Block: <name or index>` line above the
    fence, or by the START marker the model wrapped the body in, or implied when the program has one block."""
    lines = text.replace("\r\n", "\n").split("\n")
    out = ParsedAnswer()
    fenced = _fenced(lines)
    if not fenced:
        if any(marker(line) for line in lines):
            fenced = [(-1, lines)]  # unfenced code wrapped in markers
        else:
            out.failures.append("no code block found: give each rewritten block's new body in a ```python block")
            return out
    floor = 0
    for fence_line, code in fenced:
        label = _header_label(lines, fence_line, floor) if fence_line >= 0 else None
        floor = fence_line + len(code) + 2
        pieces = _split_on_markers(code)
        if isinstance(pieces, str):
            out.failures.append(f"edit {len(out.edits) + len(out.failures) + 1} (answer line {fence_line + 2}): "
                                f"{pieces}")
            continue
        if len(pieces) > 1 and label is not None:
            out.failures.append(f"edit {len(out.edits) + len(out.failures) + 1} (answer line {fence_line + 2}): "
                                f"one code block holds {len(pieces)} blocks but is headed 'Block {label}'")
            continue
        for name, body, dropped in pieces:
            if dropped:
                out.notes.append(f"edit {len(out.edits) + 1}: lines outside the block's markers were ignored")
            out.edits.append(BlockRewrite(len(out.edits) + len(out.failures) + 1, fence_line + 2, label or name,
                                          body, name))
    return out


def _split_on_markers(code: list[str]) -> list[tuple[str | None, list[str], bool]] | str:
    """[(marker name, body, lines outside markers dropped)]; the whole code is one body when it has no markers."""
    found = [(i, marker(line)) for i, line in enumerate(code) if marker(line)]
    if not found:
        return [(None, code, False)]
    spans, expected, start = [], "START", None
    for i, m in found:
        if m["kind"] != expected:
            return (f"the code's EVOLVE-BLOCK-{m['kind']} at its line {i + 1} is unbalanced; give the block's new "
                    f"body, with no marker lines or with exactly its START and END lines around it")
        if expected == "START":
            start, expected = (i, m["name"] or None), "END"
        else:
            spans.append((start[0], i, start[1]))
            expected = "START"
    if expected == "END":
        # A prefilled answer (or one cut short) may close the fence without the END marker: take the rest.
        spans.append((start[0], len(code), start[1]))
    covered = {i for first, last, _ in spans for i in range(first, last + 1)}
    dropped = any(line.strip() for i, line in enumerate(code) if i not in covered)
    return [(name, code[first + 1:last], dropped) for first, last, name in spans]
