"""How reliably LLM edits apply to program candidates (discover/programs).

1. Miscopy corpus (deterministic, no model): every function body of discover/*.py becomes an EVOLVE block; a
   window of its lines is edited by a SEARCH/REPLACE whose SEARCH is miscopied in the ways models miscopy
   (trailing spaces, a blank line more, the snippet dedented or indented, fenced, marker quoted, line numbers
   copied) or wrongly (a changed character, uneven indentation: these must be refused). For each kind: correct /
   refused / wrong, for discover.programs.apply_edits and for a plain exact-substring matcher.
2. `--model local/qwen2.5-coder-0.5b`: a real model edits a small TSP program in each answer format; how many
   answers apply, and why the others were refused.

    nice .venv/bin/python bench/program_edits.py [--model local/qwen2.5-coder-0.5b --samples 8]
"""

from __future__ import annotations

import argparse
import ast
import collections
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from discover.programs import EditError, Program, answer_format, apply_edits, render_program, rewrite_prefix  # noqa

START, END = "# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END"


def sources(rev: str) -> list[tuple[str, str]]:
    """(file name, text) of discover/**.py as committed at `rev`, so the corpus does not move with the work tree."""
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "discover"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    return [(Path(n).name, subprocess.run(["git", "show", f"{rev}:{n}"], cwd=ROOT, check=True, capture_output=True,
                                          text=True).stdout) for n in sorted(names) if n.endswith(".py")]


def marked_programs(limit: int, rev: str) -> list[tuple[Program, int, int]]:
    """(program, first body line index, stop) with one function body wrapped in markers, from discover/**.py."""
    out = []
    for name, text in sources(rev):
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.end_lineno - node.lineno < 7:
                continue
            first, last = node.body[0].lineno - 1, node.end_lineno  # 0-based body start, stop
            if any(MARKER_WORD in line for line in lines[first:last]):
                continue
            indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
            marked = lines[:first] + [indent + START] + lines[first:last] + [indent + END] + lines[last:]
            try:
                program = Program({name: "\n".join(marked) + "\n"})
            except Exception:  # noqa: BLE001 - a source line that looks like a marker; skip that function
                continue
            out.append((program, first + 1, last + 1))
            if len(out) >= limit:
                return out
    return out


MARKER_WORD = "EVOLVE-BLOCK"


def perturb(kind: str, search: list[str], replace: list[str],
            rng: random.Random) -> tuple[list[str], list[str]] | None:
    def shift(lines: list[str], by: int) -> list[str]:
        out = []
        for x in lines:
            if not x.strip():
                out.append("")
            elif by > 0:
                out.append(" " * by + x)
            else:
                out.append(x[min(-by, len(x) - len(x.lstrip())):])
        return out

    base = min(len(x) - len(x.lstrip()) for x in search if x.strip())
    if kind == "trailing spaces":
        return [x + "  " for x in search], replace
    if kind == "blank line added":
        k = rng.randrange(1, len(search))
        return search[:k] + [""] + search[k:], replace
    if kind == "dedented to column 0":
        return shift(search, -base), shift(replace, -base)
    if kind == "indented +4":
        return shift(search, 4), shift(replace, 4)
    if kind == "fenced":
        return ["```python"] + search + ["```"], ["```python"] + replace + ["```"]
    if kind == "line numbers copied":
        return [f"{i + 1:>3} | {x}" for i, x in enumerate(search)], replace
    if kind == "one character changed (refuse)":
        k = next(i for i, x in enumerate(search) if x.strip())
        line = search[k]
        pos = len(line) - len(line.lstrip()) + (len(line.strip()) // 2)
        swapped = "Q" if line[pos] != "Q" else "Z"
        return search[:k] + [line[:pos] + swapped + line[pos + 1:]] + search[k + 1:], replace
    if kind == "uneven indentation (refuse)":
        if sum(1 for x in search if x.strip()) < 2:
            return None  # one non-blank line: any shift of it is uniform
        k = next(i for i, x in enumerate(search) if x.strip())
        return search[:k] + ["  " + search[k]] + search[k + 1:], replace
    return search, replace


KINDS = ["exact", "trailing spaces", "blank line added", "dedented to column 0", "indented +4", "fenced",
         "line numbers copied", "one character changed (refuse)", "uneven indentation (refuse)"]


def naive_apply(program: Program, search: list[str], replace: list[str]) -> Program | None:
    """A plain matcher: the SEARCH text verbatim, once, in the file."""
    [(path, text)] = program.files.items()
    needle = "\n".join(search) + "\n"
    if text.count(needle) != 1:
        return None
    return Program({path: text.replace(needle, "\n".join(replace) + "\n")})


def corpus(limit: int, seed: int, rev: str) -> None:
    rng = random.Random(seed)
    tally = {k: collections.Counter() for k in KINDS}
    cases = 0
    t = time.perf_counter()
    for program, body_start, body_stop in marked_programs(limit, rev):
        lines = next(iter(program.files.values())).splitlines()
        body = list(range(body_start, body_stop))
        size = rng.randint(2, 5)
        if len(body) < size + 1:
            continue
        at = rng.randrange(body[0], body[-1] - size + 2)
        window = lines[at:at + size]
        if not any(x.strip() for x in window) or any(x.rstrip().endswith("\\") for x in window):
            continue
        replace = [x + "  # edited" if x.strip() and not x.strip().startswith("#") else x for x in window]
        if replace == window:  # only comments: the edit would change nothing
            continue
        expected = "\n".join(lines[:at] + replace + lines[at + size:]) + "\n"
        try:
            ast.parse(expected)
        except SyntaxError:  # the window ends inside a string: appending comments changes it; skip
            continue
        cases += 1
        for kind in KINDS:
            perturbed = perturb(kind, window, replace, rng)
            if perturbed is None:
                continue
            search, rep = perturbed
            answer = "<<<<<<< SEARCH\n" + "\n".join(search) + "\n=======\n" + "\n".join(rep) + "\n>>>>>>> REPLACE\n"
            try:
                got = next(iter(apply_edits(program, answer).program.files.values()))
                ours = "correct" if got == expected else "wrong"
            except EditError:
                ours = "refused"
            plain = naive_apply(program, search, rep)
            naive = "refused" if plain is None else (
                "correct" if next(iter(plain.files.values())) == expected else "wrong")
            tally[kind][f"ours {ours}"] += 1
            tally[kind][f"naive {naive}"] += 1
    elapsed = time.perf_counter() - t
    print(f"miscopy corpus: {cases} edits x {len(KINDS)} kinds from discover/**.py function bodies at {rev} "
          f"({elapsed / max(1, cases * len(KINDS)) * 1000:.1f} ms per apply incl. naive)\n")
    print("| SEARCH as written | apply_edits correct / refused / wrong | exact substring correct / refused / wrong |")
    print("|---|---|---|")
    for kind in KINDS:
        c = tally[kind]
        print(f"| {kind} | {c['ours correct']} / {c['ours refused']} / {c['ours wrong']} | "
              f"{c['naive correct']} / {c['naive refused']} / {c['naive wrong']} |")


TSP_PROGRAM = textwrap.dedent('''\
    import numpy as np


    # EVOLVE-BLOCK-START score
    def score_candidates(current, destination, candidates, distance_matrix):
        """One score per candidate city; the lowest is visited next."""
        return distance_matrix[current, candidates]
    # EVOLVE-BLOCK-END


    def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
        scores = score_candidates(current_node, destination_node, unvisited_nodes, distance_matrix)
        return int(unvisited_nodes[np.argmin(scores)])
    ''')
TASK = ("Task: a constructive TSP heuristic picks the next city to visit. Change `score_candidates` so the tours "
        "get shorter (for example, also consider the distance back to the destination or to other unvisited "
        "cities). Keep its name and parameters.")


def model_run(model: str, samples: int, max_tokens: int, dump: Path | None, formats: list[str]) -> None:
    from discover.llm import Gateway, MemoryCallLog

    program = Program({"tsp_heuristic.py": TSP_PROGRAM})
    gateway = Gateway(call_log=MemoryCallLog(), timeout_s=900)
    print(f"\nreal model {model}: {samples} answers per format, temperature 0.8, max_tokens {max_tokens}\n")
    print("| answer format | applied | refused: reasons (first words) | median latency s |")
    print("|---|---|---|---|")
    for variant in formats:
        kind = "diff" if variant == "diff" else "rewrite"
        shown = render_program(program, elide=["score"] if variant.endswith("elided") else ())
        user = f"{TASK}\n\n{shown}\n{answer_format(program, kind)}"
        messages = [{"role": "system", "content": "You improve Python programs."}, {"role": "user", "content": user}]
        prefix, stop = "", None
        if variant.startswith("rewrite prefilled"):
            prefix = rewrite_prefix(program, "score", keep_signature="signature" in variant)
            messages.append({"role": "assistant", "content": prefix})
            stop = ["```"]
        applied, reasons, latencies = 0, collections.Counter(), []
        for i in range(samples):
            response = gateway.complete_sync(model=model, messages=messages, temperature=0.8, max_tokens=max_tokens,
                                             sample_index=i, stop=stop)
            latencies.append(response.latency_s)
            text = prefix + response.text + ("\n```" if stop else "")
            try:
                apply_edits(program, text, fmt=kind)
                applied += 1
                verdict = "applied"
            except EditError as exc:
                first = exc.failures[0] if exc.failures else str(exc)
                reasons[" ".join(first.split(": ", 1)[-1].split()[:5])] += 1
                verdict = str(exc)
            if dump:
                with dump.open("a") as out:
                    out.write(f"===== {variant} sample {i}: {verdict}\n{text}\n")
        latencies.sort()
        why = "; ".join(f"{n}x {r}" for r, n in reasons.most_common(4)) or "-"
        print(f"| {variant} | {applied}/{samples} | {why} | {latencies[len(latencies) // 2]:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200, help="functions taken from discover/*.py")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rev", default="HEAD", help="git revision whose discover/**.py make the corpus")
    parser.add_argument("--model", default=None, help="also ask a real model, e.g. local/qwen2.5-coder-0.5b")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--formats", default="diff,rewrite,rewrite prefilled,rewrite prefilled signature,"
                                "rewrite prefilled signature elided",
                        help="comma-separated answer formats to ask the model for")
    parser.add_argument("--dump", type=Path, default=None, help="append every model answer and its verdict here")
    args = parser.parse_args()
    corpus(args.limit, args.seed, args.rev)
    if args.model:
        model_run(args.model, args.samples, args.max_tokens, args.dump, args.formats.split(","))


if __name__ == "__main__":
    main()
