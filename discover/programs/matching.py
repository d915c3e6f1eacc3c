"""Find where a SEARCH text sits in a file: exactly first, then tolerating the ways LLMs miscopy code.

The tolerated differences are the ones reported most in OpenEvolve/aider issues about failing diffs (trailing
spaces, a blank line added or dropped, the whole snippet indented one level more or less); anything else must
match. Each stage that finds something stops the search, so a tolerant stage never overrides an exact match.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    start: int  # 0-based index of the first file line covered
    stop: int  # one past the last file line covered
    kind: str  # "exact", "trailing whitespace", "blank lines", "indentation"
    shift: tuple[str, str] = ("", "")  # (added, removed) indentation: the replacement gets the same shift

    def describe(self) -> str:
        return f"lines {self.start + 1}-{self.stop}"


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def find_matches(file_lines: list[str], search: list[str]) -> list[Match]:
    """Every place `search` matches, from the strictest stage that finds any. Lines carry no newline."""
    return [_with_edge_blanks(m, file_lines, search) for m in _find(file_lines, search)]


def _with_edge_blanks(match: Match, file_lines: list[str], search: list[str]) -> Match:
    """A tolerant match covers non-blank lines only; take in the blank lines SEARCH starts or ends with, where the
    file has them, so a replacement that starts or ends with them does not add blank lines."""
    if match.kind in ("exact", "trailing whitespace"):
        return match
    lead = next((i for i, s in enumerate(search) if s.strip()), 0)
    trail = next((i for i, s in enumerate(reversed(search)) if s.strip()), 0)
    start, stop = match.start, match.stop
    while lead and start > 0 and not file_lines[start - 1].strip():
        start, lead = start - 1, lead - 1
    while trail and stop < len(file_lines) and not file_lines[stop].strip():
        stop, trail = stop + 1, trail - 1
    return Match(start, stop, match.kind, match.shift)


def _find(file_lines: list[str], search: list[str]) -> list[Match]:
    n = len(search)
    exact = [Match(i, i + n, "exact") for i in range(len(file_lines) - n + 1) if file_lines[i:i + n] == search]
    if exact:
        return exact
    stripped_search = [s.rstrip() for s in search]
    stripped_file = [f.rstrip() for f in file_lines]
    trailing = [Match(i, i + n, "trailing whitespace") for i in range(len(file_lines) - n + 1)
                if stripped_file[i:i + n] == stripped_search]
    if trailing:
        return trailing
    # Compare the non-blank lines only; a match spans from the first to the last matched file line.
    wanted = [s for s in stripped_search if s.strip()]
    if not wanted:
        return []
    kept = [i for i, f in enumerate(stripped_file) if f.strip()]
    content = [stripped_file[i] for i in kept]
    k = len(wanted)
    blank = [Match(kept[j], kept[j + k - 1] + 1, "blank lines") for j in range(len(content) - k + 1)
             if content[j:j + k] == wanted]
    if blank:
        return blank
    shifted = []
    for j in range(len(content) - k + 1):
        shift = _uniform_shift(content[j:j + k], wanted)
        if shift is not None:
            shifted.append(Match(kept[j], kept[j + k - 1] + 1, "indentation", shift))
    return shifted


def _uniform_shift(found: list[str], wanted: list[str]) -> tuple[str, str] | None:
    """(added, removed) when `found` is `wanted` with one indentation string added to, or removed from, every line."""
    f0, w0 = _indent(found[0]), _indent(wanted[0])
    if f0.endswith(w0) and len(f0) > len(w0):
        extra = f0[: len(f0) - len(w0)]
        ok = all(f == extra + w for f, w in zip(found, wanted))
        return (extra, "") if ok else None
    if w0.endswith(f0) and len(w0) > len(f0):
        extra = w0[: len(w0) - len(f0)]
        ok = all(w == extra + f for f, w in zip(found, wanted))
        return ("", extra) if ok else None
    return None


def reindent(lines: list[str], shift: tuple[str, str]) -> list[str]:
    """Apply the SEARCH text's indentation shift to the replacement (blank lines stay blank)."""
    added, removed = shift
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
        elif removed:
            out.append(line[len(removed):] if line.startswith(removed) else line.lstrip(" \t"))
        else:
            out.append(added + line)
    return out


def closest(file_lines: list[str], search: list[str], allowed: set[int]) -> str:
    """A hint for a SEARCH text that matched nowhere: where the most similar lines start and the first line that
    differs. Windows are ranked by how many lines agree exactly (linear in the file); only when none agree is a
    fuzzy ratio computed, for the first SEARCH line alone, so a large program costs milliseconds."""
    wanted = [s.strip() for s in search if s.strip()]
    kept = [i for i in sorted(allowed) if i < len(file_lines) and file_lines[i].strip()]
    if not wanted or not kept:
        return ""
    content = [file_lines[i].strip() for i in kept]
    best_count, best_j = 0, -1
    for j in range(len(content)):
        count = sum(1 for a, b in zip(content[j:j + len(wanted)], wanted) if a == b)
        if count > best_count:
            best_count, best_j = count, j
    if best_j < 0:
        matcher, ratio = difflib.SequenceMatcher(autojunk=False), 0.6
        matcher.set_seq2(wanted[0])  # difflib caches facts about seq2: set it once
        for j, line in enumerate(content):
            matcher.set_seq1(line)
            if matcher.real_quick_ratio() > ratio and matcher.quick_ratio() > ratio and matcher.ratio() > ratio:
                ratio, best_j = matcher.ratio(), j
        if best_j < 0:
            return ""
    start = kept[best_j]
    for position, wanted_line in enumerate(wanted):
        if best_j + position >= len(content):
            return f"; the closest text starts at line {start + 1} but the block ends before SEARCH does"
        at = kept[best_j + position]
        if content[best_j + position] != wanted_line:
            return (f"; the closest text starts at line {start + 1}, where line {at + 1} is "
                    f"`{content[best_j + position][:80]}` but SEARCH has `{wanted_line[:80]}`")
    return f"; the closest text starts at line {start + 1} (its indentation differs unevenly)"
