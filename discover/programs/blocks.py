"""A program candidate: a set of files, some of whose lines are marked as EVOLVE blocks the LLM may rewrite.

The marking follows AlphaEvolve/OpenEvolve (`# EVOLVE-BLOCK-START` / `# EVOLVE-BLOCK-END` comment lines); unlike
them a program may span several files and blocks may be named (`# EVOLVE-BLOCK-START scoring`), so an answer can
say which block it rewrites.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from discover.errors import ProblemError

# `#` for Python/shell/TOML, `//` for C-like files: a multi-file program may hold more than Python.
MARKER = re.compile(r"^(?P<indent>[ \t]*)(?:#|//)[ \t]*EVOLVE-BLOCK-(?P<kind>START|END)\b[ \t]*(?P<name>\S*)[ \t]*$")
# Any line that mentions a marker: used to refuse near-miss markers instead of silently ignoring them.
MARKER_MENTION = re.compile(r"EVOLVE-BLOCK-(START|END)")
NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
TEXT_FORMAT = "discover.program/1"
# Folders that are never part of a program when loading one from disk.
SKIPPED_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}
MAX_FILE_BYTES = 1_000_000


class ProgramError(ProblemError):
    """A program's files are unusable: unbalanced or nested markers, bad paths, unreadable or undecodable files."""


@dataclass(frozen=True)
class Block:
    """One EVOLVE block. Lines are 1-based; `start`/`end` are the marker lines, the body lies strictly between."""

    file: str
    index: int  # position in Program.blocks() (files in sorted order, then top to bottom)
    name: str | None
    start: int
    end: int
    text: str  # the body, without the marker lines, each line ending in "\n"
    indent: str  # the START marker's indentation: the body's natural level

    @property
    def label(self) -> str:
        """What an answer uses to name this block: its name, else its index."""
        return self.name if self.name is not None else str(self.index)

    @property
    def body_lines(self) -> range:
        return range(self.start + 1, self.end)

    def describe(self) -> str:
        name = f"'{self.name}'" if self.name else "(unnamed)"
        return f"block {self.index} {name} in {self.file}, lines {self.start + 1}-{self.end - 1}"


def marker(line: str) -> re.Match | None:
    return MARKER.match(line.rstrip("\r\n"))


def find_blocks(path: str, text: str, first_index: int = 0) -> list[Block]:
    """The blocks of one file; raises ProgramError (naming file and line) on unbalanced, nested or malformed markers."""
    lines = text.splitlines(keepends=True)
    blocks: list[Block] = []
    open_at: tuple[int, re.Match] | None = None
    for number, line in enumerate(lines, start=1):
        found = marker(line)
        if found is None:
            if MARKER_MENTION.search(line) and line.lstrip().startswith(("#", "//")):
                raise ProgramError(f"{path}:{number}: malformed EVOLVE-BLOCK marker {line.strip()!r} "
                                   f"(expected '# EVOLVE-BLOCK-START [name]' or '# EVOLVE-BLOCK-END' alone on a line)",
                                   file=path, line=number)
            continue
        kind, name = found["kind"], found["name"] or None
        if name is not None and not NAME.match(name):
            raise ProgramError(f"{path}:{number}: block name {name!r} is not a word (letters, digits, _ . -)",
                               file=path, line=number)
        if kind == "START":
            if open_at is not None:
                raise ProgramError(f"{path}:{number}: EVOLVE-BLOCK-START inside the block opened at line {open_at[0]} "
                                   f"(blocks cannot nest; close it with # EVOLVE-BLOCK-END first)",
                                   file=path, line=number)
            open_at = (number, found)
            continue
        if open_at is None:
            raise ProgramError(f"{path}:{number}: EVOLVE-BLOCK-END without a matching EVOLVE-BLOCK-START",
                               file=path, line=number)
        start, opened = open_at
        if name is not None and name != (opened["name"] or None):
            raise ProgramError(f"{path}:{number}: EVOLVE-BLOCK-END {name} closes the block opened at line {start} "
                               f"as {opened['name'] or '(unnamed)'}", file=path, line=number)
        body = "".join(_with_newline(x) for x in lines[start:number - 1])
        blocks.append(Block(path, first_index + len(blocks), opened["name"] or None, start, number, body,
                            opened["indent"]))
        open_at = None
    if open_at is not None:
        raise ProgramError(f"{path}:{open_at[0]}: EVOLVE-BLOCK-START is never closed (no # EVOLVE-BLOCK-END below it)",
                           file=path, line=open_at[0])
    return blocks


def _with_newline(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"


def check_path(path: str) -> str:
    """A program path is relative, POSIX-style and stays inside the program's folder."""
    pure = PurePosixPath(path)
    if not path or "\\" in path or pure.is_absolute() or ".." in pure.parts or str(pure) != path or path == ".":
        raise ProgramError(f"program file path {path!r} must be a relative path like 'pkg/mod.py' without '..'",
                           file=path)
    return path


class Program:
    """Files (relative path -> text) with at least one EVOLVE block. Immutable: edits return a new Program."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self._files = {check_path(p): files[p] for p in sorted(files)}
        blocks: list[Block] = []
        for path, text in self._files.items():
            if not isinstance(text, str):
                raise ProgramError(f"program file {path} is not text", file=path)
            blocks.extend(find_blocks(path, text, first_index=len(blocks)))
        if not blocks:
            raise ProgramError(f"no EVOLVE block in the program's files ({', '.join(self._files) or 'none'}): "
                               f"mark the code to evolve with '# EVOLVE-BLOCK-START' / '# EVOLVE-BLOCK-END' lines")
        names = [b.name for b in blocks if b.name]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            where = ", ".join(f"{b.file}:{b.start}" for b in blocks if b.name == duplicate)
            raise ProgramError(f"block name {duplicate!r} is used twice ({where}): names must be unique",
                               name=duplicate)
        self._blocks = blocks

    # --- reading -------------------------------------------------------------------------------------------

    @property
    def files(self) -> dict[str, str]:
        return dict(self._files)

    def blocks(self) -> list[Block]:
        return list(self._blocks)

    def block(self, ref: str | int) -> Block:
        """A block by name or index (an int or a string of digits); ProgramError lists the blocks there are."""
        ref = str(ref).strip()
        for b in self._blocks:
            if b.name == ref or (b.name is None and str(b.index) == ref) or (ref.isdigit() and int(ref) == b.index):
                return b
        raise ProgramError(f"no block {ref!r}; blocks: {self.block_summary()}", ref=ref)

    def block_summary(self) -> str:
        return "; ".join(b.describe() for b in self._blocks)

    def files_with_blocks(self) -> list[str]:
        return sorted({b.file for b in self._blocks})

    def syntax_errors(self, paths: Iterable[str] | None = None) -> list[str]:
        """One line per Python file (of `paths`, default all) that does not parse ("file line N: message")."""
        errors = []
        wanted = set(self._files if paths is None else paths)
        for path, text in self._files.items():
            if not path.endswith(".py") or path not in wanted:
                continue
            try:
                ast.parse(text, filename=path)
            except SyntaxError as exc:
                source = (exc.text or "").strip()
                shown = f" in `{source[:80]}`" if source else ""
                errors.append(f"{path} line {exc.lineno}: {exc.msg}{shown}")
        return errors

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Program) and self._files == other._files

    def __hash__(self) -> int:
        return hash(tuple(self._files.items()))

    def __repr__(self) -> str:
        return f"Program({len(self._files)} files, {len(self._blocks)} blocks)"

    def replace_files(self, changes: Mapping[str, str]) -> Program:
        return Program({**self._files, **changes})

    # --- loading and saving --------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, include: Iterable[str] = ("**/*",)) -> Program:
        """A single file (named by its file name) or every text file of a folder matching `include` globs."""
        root = Path(path)
        if root.is_file():
            return cls({root.name: _read(root, root.name)})
        if not root.is_dir():
            raise ProgramError(f"program path {root} does not exist", path=str(root))
        files: dict[str, str] = {}
        for pattern in include:
            for item in sorted(root.glob(pattern)):
                rel = item.relative_to(root)
                if not item.is_file() or any(p in SKIPPED_DIRS or p.startswith(".") for p in rel.parts):
                    continue
                if item.suffix in {".pyc", ".so", ".o"}:
                    continue
                files[rel.as_posix()] = _read(item, rel.as_posix())
        if not files:
            raise ProgramError(f"program folder {root} has no files matching {', '.join(include)}", path=str(root))
        return cls(files)

    def write(self, folder: str | Path) -> list[Path]:
        """Write every file under `folder` (the candidate side's scratch directory); returns the written paths."""
        written = []
        for rel, text in self._files.items():
            target = Path(folder) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(target)
        return written

    def to_dict(self) -> dict:
        return {"format": TEXT_FORMAT, "files": dict(self._files)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Program:
        if not isinstance(data, Mapping) or data.get("format") != TEXT_FORMAT or not isinstance(data.get("files"),
                                                                                               Mapping):
            raise ProgramError(f"not a stored program (expected a dict with format {TEXT_FORMAT!r} and files)")
        return cls(data["files"])

    def to_text(self) -> str:
        """One text for the store: JSON with sorted keys, so equal programs give equal texts."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Program:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProgramError(f"stored program is not JSON: {exc.msg} at line {exc.lineno}") from exc
        return cls.from_dict(data)

    def content_hash(self) -> str:
        """sha256 (16 hex) that ignores formatting and comments inside Python blocks; everything else exact.

        Cosmetic rewrites of a block (re-indented continuation lines, changed comments, spacing) then collide
        with their parent, as extract.code_hash does for single functions.
        """
        digest = hashlib.sha256()
        for path, text in self._files.items():
            digest.update(f"\0file {path}\0".encode())
            lines = text.splitlines(keepends=True)
            previous = 0
            for b in (b for b in self._blocks if b.file == path):
                digest.update("".join(lines[previous:b.start]).encode())
                digest.update(_normal_body(b.text, python=path.endswith(".py")).encode())
                previous = b.end - 1
            digest.update("".join(lines[previous:]).encode())
        return digest.hexdigest()[:16]


def _normal_body(body: str, python: bool) -> str:
    if python:
        try:
            return "\0ast\0" + ast.unparse(ast.parse(textwrap.dedent(body)))
        except SyntaxError:  # a block may hold part of a statement (e.g. dict entries); compare it by its lines
            pass
    return "\0lines\0" + "\n".join(line.strip() for line in body.splitlines() if line.strip())


def _read(path: Path, rel: str) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ProgramError(f"program file {rel} is larger than {MAX_FILE_BYTES} bytes", file=rel)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProgramError(f"program file {rel} is not UTF-8 text (use include= to leave it out)", file=rel) from exc
