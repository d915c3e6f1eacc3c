"""Novelty rejection: a candidate whose code is nearly the same as one already seen is refused before it is
evaluated (an exact copy is the loop's duplicate check; this catches the copy with a renamed comment, a reformatted
line or a changed constant in dead code). The similarity is difflib's ratio on normalised code: parsed and
unparsed with the standard ast module (comments, docstrings and formatting gone), so two texts that compile to the
same program are identical. ShinkaEvolve and OpenEvolve reject near-duplicates with embeddings and an LLM judge;
this is the cheap, deterministic form.

    check = NoveltyCheck(threshold=0.95)
    check.remember("candidate c1", code1)  # any label: it is named in the reason
    hit = check.near_duplicate(code2)      # None, or Similar(id="candidate c1", ratio=0.97)
    if hit: reject(hit.reason(check.threshold))
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass

DEFAULT_THRESHOLD = 0.95


def normalise(code: str) -> str:
    """The code as the ast sees it (no comments, docstrings or formatting); whitespace-collapsed when it does not
    parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "\n".join(" ".join(line.split()) for line in code.splitlines() if line.strip())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


@dataclass(frozen=True)
class Similar:
    id: str
    ratio: float

    def reason(self, threshold: float) -> str:
        return (f"near-duplicate of {self.id} (code similarity {self.ratio:.3f} >= {threshold:g}); "
                f"change the approach, not only names, comments or formatting")


class NoveltyCheck:
    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"novelty threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._seen: dict[str, str] = {}  # id -> normalised code

    def remember(self, cid: str, code: str) -> None:
        self._seen[cid] = normalise(code)

    def near_duplicate(self, code: str, exclude: tuple[str, ...] = ()) -> Similar | None:
        """The most similar remembered candidate at or above the threshold, else None."""
        new = normalise(code)
        best: Similar | None = None
        for cid, old in self._seen.items():
            if cid in exclude:
                continue
            matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
            # the cheap upper bounds first: most pairs are ruled out without the full comparison
            if matcher.real_quick_ratio() < self.threshold or matcher.quick_ratio() < self.threshold:
                continue
            ratio = matcher.ratio()
            if ratio >= self.threshold and (best is None or ratio > best.ratio):
                best = Similar(cid, ratio)
        return best
