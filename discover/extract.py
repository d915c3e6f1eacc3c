"""Turn raw LLM text into (thought, code) and check it before any sandbox time is spent."""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
# EoH asks for the idea "inside a brace"; we accept braces, a `Thought:` line, or a leading comment.
_BRACE_THOUGHT = re.compile(r"\{([^{}]{10,600})\}")
_THOUGHT_LINE = re.compile(r"^\s*(?:thought|idea|description)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_COMMENT_IDEA = re.compile(r"^\s*#\s*(?:idea|thought)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


class MalformedOutput(ValueError):
    """The LLM's text holds no usable candidate; the message says why (it is fed back to the LLM)."""


@dataclass(frozen=True)
class ParsedCandidate:
    thought: str
    code: str


def extract_code(text: str) -> str:
    blocks = [b.strip("\n") for b in _FENCE.findall(text)]
    blocks = [b for b in blocks if b.strip()]
    if blocks:
        # The longest block is almost always the implementation; short ones are usage examples.
        return max(blocks, key=len)
    if re.search(r"^\s*(def |import |from )", text, re.MULTILINE):
        return text.strip("\n")
    raise MalformedOutput("no Python code block found in the response")


def extract_thought(text: str, code: str) -> str:
    for pattern, source in ((_THOUGHT_LINE, text), (_BRACE_THOUGHT, text.split("```")[0]), (_COMMENT_IDEA, code)):
        match = pattern.search(source)
        if match:
            return " ".join(match.group(1).split())[:500]
    prose = text.split("```")[0].strip()
    if prose:
        return " ".join(prose.split())[:300]
    return ""


def check_code(code: str, entry: str, signature: str) -> None:
    """Parse with ast; require a top-level function `entry` whose positional parameters match the signature's."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise MalformedOutput(f"syntax error at line {exc.lineno}: {exc.msg}") from exc
    wanted = _param_names(signature)
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry]
    if not funcs:
        defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        raise MalformedOutput(
            f"no top-level function `{entry}` (defined: {', '.join(defined) or 'none'})"
        )
    got = [a.arg for a in funcs[-1].args.posonlyargs + funcs[-1].args.args]
    if wanted is not None and len(got) != len(wanted) and not funcs[-1].args.vararg:
        raise MalformedOutput(
            f"`{entry}` takes {len(got)} parameters ({', '.join(got)}); expected {len(wanted)} ({', '.join(wanted)})"
        )


def _param_names(signature: str) -> list[str] | None:
    try:
        tree = ast.parse(signature.strip().rstrip(":") + ":\n    pass")
    except SyntaxError:
        return None
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    return [a.arg for a in fn.args.posonlyargs + fn.args.args]


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)


def drop_example_usage(code: str) -> str:
    """Remove the demo code models append after the function ("Example usage", test calls, prints).

    It runs at import, where it fails (undefined names, missing data) and would sink a good function; EoH's
    extractor likewise keeps only the function (Liu et al. 2024). Kept: imports, definitions, and assignments
    before the last definition (constants the functions use). Dropped: top-level expression statements (calls),
    `if __name__ == ...` blocks, loops, asserts, and anything after the last definition that is not an import
    or a definition.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    last_def = max((i for i, n in enumerate(tree.body) if isinstance(n, defs)), default=-1)
    drop = []
    for i, node in enumerate(tree.body):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        demo = (isinstance(node, (ast.Expr, ast.For, ast.While, ast.Assert)) and not docstring) or _is_main_guard(node)
        trailing = i > last_def >= 0 and not isinstance(node, (*defs, ast.Import, ast.ImportFrom))
        if demo or trailing:
            drop.append(node)
    if not drop:
        return code
    lines = code.splitlines()
    for node in reversed(drop):
        start = node.lineno - 1
        # Comments directly above a dropped statement ("# Example usage") go with it.
        while start > 0 and lines[start - 1].lstrip().startswith("#") and not lines[start - 1].startswith(" "):
            start -= 1
        del lines[start:node.end_lineno]
    return "\n".join(lines).rstrip() + "\n"


def drop_docstring(code: str, entry: str, docstring: str) -> str:
    """`code` without `entry`'s docstring when it repeats the problem's own docstring.

    Models copy the docstring from the prompt into every answer; showing it again with every parent in later
    prompts costs hundreds of tokens per parent and says nothing new. The stored code keeps it.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    wanted = " ".join(inspect.cleandoc(docstring).split())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry:
            doc = ast.get_docstring(node)
            first = node.body[0]
            if doc is not None and " ".join(doc.split()) == wanted and len(node.body) > 1:
                lines = code.splitlines()
                del lines[first.lineno - 1:first.end_lineno]
                return "\n".join(lines) + "\n"
    return code


def parse_response(text: str, entry: str, signature: str, prefix: str = "") -> ParsedCandidate:
    """`prefix` is what was prefilled as the start of the assistant's answer (completion-style prompting)."""
    if not text or not text.strip():
        raise MalformedOutput("empty response")
    full = prefix + text
    code = drop_example_usage(extract_code(full))
    check_code(code, entry, signature)
    return ParsedCandidate(thought=extract_thought(full, code), code=code.rstrip() + "\n")


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Module = _strip


def code_hash(code: str) -> str:
    """Hash of the code with comments, docstrings and formatting removed, so cosmetic copies collide."""
    try:
        normal = ast.unparse(_StripDocstrings().visit(ast.parse(code)))
    except SyntaxError:
        normal = "\n".join(line.rstrip() for line in code.strip().splitlines())
    return hashlib.sha256(normal.encode()).hexdigest()[:16]
