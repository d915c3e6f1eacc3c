"""Show a Program to the LLM and tell it how to answer (the templates live in prompts/program/)."""

from __future__ import annotations

import ast
import os
import textwrap
from pathlib import Path
from string import Template
from typing import Iterable, Literal

from discover.errors import ConfigError
from discover.programs.blocks import Block, Program

# The same prompts folder (and override) the operators read their templates from.
PROMPTS_DIR = Path(os.environ.get("DISCOVER_PROMPTS_DIR", Path(__file__).resolve().parents[2] / "prompts"))

LANGUAGES = {".py": "python", ".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".c": "c",
             ".cpp": "cpp", ".h": "c", ".js": "javascript", ".ts": "typescript", ".rs": "rust", ".sh": "bash",
             ".md": "markdown", ".txt": "text"}

AnswerFormat = Literal["diff", "rewrite"]


def render_template(name: str, **values: object) -> str:
    path = PROMPTS_DIR / name
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"prompt template {path} is missing", path=str(path)) from exc
    return Template(text).safe_substitute({k: str(v) for k, v in values.items()}).strip() + "\n"


def _language(path: str) -> str:
    dot = path.rfind(".")
    return LANGUAGES.get(path[dot:], "") if dot >= 0 else ""


def _fence(text: str) -> str:
    """A fence longer than any backtick run in the text, so a file holding ``` cannot close it early."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def render_file(path: str, text: str, line_numbers: bool = False) -> str:
    body = text if text.endswith("\n") or not text else text + "\n"
    if line_numbers:
        lines = body.splitlines()
        width = len(str(len(lines)))
        body = "".join(f"{n:>{width}} | {line}\n" for n, line in enumerate(lines, start=1))
    fence = _fence(body)
    return f"### File: {path}\n{fence}{_language(path)}\n{body}{fence}\n"


def block_list(blocks: list[Block]) -> str:
    return "\n".join(f"- {b.describe()}" for b in blocks)


def render_program(program: Program, line_numbers: bool = False, show: Iterable[str] | bool = (),
                   elide: Iterable[str | int] = ()) -> str:
    """Files with blocks in full (headed by their path), then the other files by name, or in full when listed in
    `show` (or all of them when `show` is True). The code is verbatim, so SEARCH text can be copied from it.

    `elide` (block names or indices) replaces those blocks' bodies by one comment line: for a block rewrite
    written from scratch, since a small model shown the current body mostly copies it (bench/program_edits.py).
    Do not elide with the SEARCH/REPLACE format: the LLM must see what it searches."""
    with_blocks = program.files_with_blocks()
    files = program.files
    hidden = [program.block(ref) for ref in elide]
    for path in {b.file for b in hidden}:
        lines = files[path].splitlines(keepends=True)
        for b in sorted((b for b in hidden if b.file == path), key=lambda b: b.start, reverse=True):
            lines[b.start:b.end - 1] = [f"{b.indent}# (block {b.label}: the code you write goes here)\n"]
        files[path] = "".join(lines)
    shown = set(files) if show is True else set(show or ()) & set(files)
    blocks = program.blocks() if not hidden else [b for b in program.blocks() if b not in hidden]
    listing = block_list(blocks) + ("\n" if blocks and hidden else "") + "\n".join(
        f"- block {b.index} '{b.label}' in {b.file}: to be written by you" for b in hidden)
    parts = [f"Editable blocks (change only the lines between their markers):\n{listing}\n"]
    for path in files:
        if path in with_blocks or path in shown:
            readonly = "" if path in with_blocks else " (read-only: no EVOLVE block)"
            parts.append(render_file(path, files[path], line_numbers and not hidden).replace(
                "\n", f"{readonly}\n", 1))
    others = [p for p in files if p not in with_blocks and p not in shown]
    if others:
        parts.append("Other files of the program (not shown, read-only): " + ", ".join(others) + "\n")
    return "\n".join(parts)


def answer_format(program: Program, kind: AnswerFormat = "diff") -> str:
    """The instructions for one answer format, filled in with this program's file and block names."""
    first = program.blocks()[0]
    single_file = len(program.files_with_blocks()) == 1
    if kind == "diff":
        path_rule = ("The file name after SEARCH may be left out: only one file has blocks." if single_file else
                     "Write the file's path after SEARCH: several files have blocks.")
        return render_template("program/diff.txt", example_path=first.file, path_rule=path_rule).strip()
    if kind == "rewrite":
        return render_template("program/rewrite.txt", example_label=first.label,
                               labels=", ".join(b.label for b in program.blocks())).strip()
    raise ValueError(f"unknown answer format {kind!r} (diff or rewrite)")


def rewrite_prefix(program: Program, label: str | int, keep_signature: bool = False) -> str:
    """A prefilled start for a block rewrite (completion-style, for small local models): the model writes the
    body and closes the fence; stop generation at the closing fence.

    `keep_signature`: when the block starts with a function, the prefix also holds its `def` line(s) and
    docstring, so the model writes only the function's body (the form that works best for the 0.5B model on
    single functions, DESIGN.md)."""
    block = program.block(label)
    head = f"Block: {block.label}\n```{_language(block.file)}\n"
    return head + (_signature_lines(block.text) if keep_signature and block.file.endswith(".py") else "")


def _signature_lines(body: str) -> str:
    """The block's leading lines up to the end of its first statement's `def` header and docstring."""
    try:
        tree = ast.parse(textwrap.dedent(body))
    except SyntaxError:
        return ""
    first = tree.body[0] if tree.body else None
    if not isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return ""
    end = first.body[0].lineno - 1  # the line before the first body statement
    if ast.get_docstring(first) is not None and len(first.body) > 1:
        end = first.body[0].end_lineno
    lines = body.splitlines(keepends=True)
    return "".join(lines[:end])


def edit_failed(reason: str, kind: AnswerFormat = "diff") -> str:
    """The re-ask after a refused answer: the one-line reason, and the format reminder."""
    return render_template("program/edit_failed.txt", reason=reason,
                           format_name="SEARCH/REPLACE edits" if kind == "diff" else "block rewrites").strip()
