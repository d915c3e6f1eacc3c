"""Lift a candidate's numeric constants into named parameters, and write new values back into its source.

The search over those parameters lives in discover/tuning_search.py (`tune`); this module only knows source code.
Which literals count as parameters (docs/tuning.md has the table and the reasons):

* floats are weights, exponents, thresholds: lifted almost everywhere, except guard epsilons (|v| <= 1e-6),
  sentinels (|v| >= 1e6), zero initial values (``total = 0.0``, ``[0.0] * n``), and literals that do not change behaviour (asserts, annotations, decorators, print
  calls, f-strings, the ``if __name__ == "__main__":`` block, defaults of the entry's own parameters, which the
  caller always passes);
* ints are usually indices, counts, axes and sizes, so an int is lifted only where it acts as a number: an
  operand of ``*``, ``/``, ``**`` or a comparison (not inside a subscript or a range()/shape call), the exponent
  of ``pow``/``np.power``, or the value of a name (assignment or default argument) whose every use is such an
  operand; 0 and +-1 never (identities, indices);
* a negative literal (``-2.5``, an ``ast.UnaryOp``) is one parameter; booleans are not numbers here.

Rendering replaces each literal's own source segment (by line/column), so formatting and comments survive and
rendering the original values gives back the original code exactly.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from discover.errors import DiscoverError

GUARD_MAX = 1e-6  # |v| at or below this (and nonzero) is a division guard, not a weight
SENTINEL_MIN = 1e6  # |v| at or above this stands for "infinity"

# Calls whose int arguments are counts, sizes, shapes or indices even when computed (range(n - 2)).
STRUCTURAL_CALLS = {
    "range", "slice", "len", "enumerate", "zip", "zeros", "ones", "empty", "full", "eye", "identity", "arange",
    "reshape", "resize", "tile", "repeat", "partition", "argpartition", "take", "roll", "round", "around", "seed",
    "default_rng", "RandomState", "randint", "integers", "choice", "permutation", "sample", "islice",
    "combinations", "permutations", "int",
}
POWER_CALLS = {"pow", "power", "float_power"}  # the second argument is an exponent
OUTPUT_CALLS = {"print", "debug", "info", "warning", "error", "write"}


class TuningError(DiscoverError):
    """Code cannot be lifted (syntax error), values do not fit a template, or a budget is too small."""


@dataclass(frozen=True)
class Param:
    """One tunable literal. `line`/`col` are 1-based/0-based character positions of its source segment."""

    name: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str  # the original source segment, e.g. "-2.5" or "3"
    value: int | float
    kind: str  # "int" | "float"
    role: str  # why it was lifted: "weight", "exponent", "threshold", "named constant", "default"
    start: int = field(repr=False, default=0)  # character offsets into the code
    end: int = field(repr=False, default=0)
    negative_literal: bool = field(repr=False, default=False)  # the segment is a unary minus expression

    @property
    def sign(self) -> int:
        return (self.value > 0) - (self.value < 0)


@dataclass(frozen=True)
class Skipped:
    """A numeric literal that was not lifted, and why (for tests, logs and the docs' table)."""

    line: int
    col: int
    text: str
    reason: str


@dataclass(frozen=True)
class ConstantTemplate:
    code: str
    params: tuple[Param, ...]
    skipped: tuple[Skipped, ...]

    def __len__(self) -> int:
        return len(self.params)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def values(self) -> tuple[int | float, ...]:
        """The original values, in parameter order."""
        return tuple(p.value for p in self.params)

    def as_dict(self, values: Sequence[int | float] | None = None) -> dict[str, int | float]:
        return dict(zip(self.names, self.values if values is None else self._ordered(values)))

    def render(self, values: Sequence[int | float] | Mapping[str, int | float]) -> str:
        """The code with each parameter's literal replaced by its new value (the rest of the text untouched)."""
        ordered = self._ordered(values)
        out = self.code
        for param, value in sorted(zip(self.params, ordered), key=lambda pv: pv[0].start, reverse=True):
            out = out[: param.start] + literal_text(param, value) + out[param.end :]
        return out

    def describe(self) -> str:
        """One line per parameter, for logs and prompts: `p0 (line 5): 0.5 weight`."""
        return "\n".join(f"{p.name} (line {p.line}): {p.text} {p.role}" for p in self.params)

    def _ordered(self, values: Sequence[int | float] | Mapping[str, int | float]) -> tuple[int | float, ...]:
        if isinstance(values, Mapping):
            missing = [n for n in self.names if n not in values]
            extra = [n for n in values if n not in self.names]
            if missing or extra:
                raise TuningError(f"values do not fit the template: missing {missing}, unknown {extra}")
            return tuple(values[n] for n in self.names)
        values = tuple(values)
        if len(values) != len(self.params):
            raise TuningError(f"{len(values)} values for a template of {len(self.params)} parameters")
        return values


def literal_text(param: Param, value: int | float) -> str:
    """Source text for `value` in `param`'s place: the original text for the original value, else a literal of
    the parameter's kind; a negative value put where the source had no minus sign is parenthesised (`x ** -2` is
    fine but `-2 ** 2` is not (-2) ** 2)."""
    if type(value) is type(param.value) and value == param.value:
        return param.text
    text = str(int(round(value))) if param.kind == "int" else repr(float(value))
    if text.startswith("-") and not param.negative_literal:
        text = f"({text})"
    return text


def lift_constants(code: str, entry_signature: str | None = None) -> ConstantTemplate:
    """Find the tunable numeric literals of `code`. `entry_signature` (e.g. the problem's
    ``def select_next_node(current_node, ...) -> int:``) names the entry function and how many positional
    arguments the caller passes: defaults of those parameters are dead and not lifted."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise TuningError(f"cannot lift constants: line {exc.lineno}: {exc.msg}") from None
    entry_name, entry_arity = _entry(entry_signature)
    return _Lifter(code, tree, entry_name, entry_arity).run()


def _entry(signature: str | None) -> tuple[str | None, int]:
    if not signature:
        return None, 0
    text = signature.strip()
    if not text.endswith(":"):
        text += ":"
    try:
        fn = ast.parse(text + "\n    pass\n").body[0]
    except SyntaxError:
        raise TuningError(f"cannot read the entry signature {signature!r}") from None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TuningError(f"the entry signature {signature!r} is not a def")
    return fn.name, len(fn.args.posonlyargs) + len(fn.args.args)


def _callee(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    return any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts)


def _numeric(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


class _Lifter:
    def __init__(self, code: str, tree: ast.Module, entry_name: str | None, entry_arity: int) -> None:
        self.code = code
        self.tree = tree
        self.entry_name = entry_name
        self.entry_arity = entry_arity
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        # ast columns are UTF-8 byte offsets within a line; keep each line's bytes to convert them.
        self.lines = code.split("\n")
        self.line_start = [0]
        for line in self.lines:
            self.line_start.append(self.line_start[-1] + len(line) + 1)
        self.dead_defaults = self._dead_defaults()
        self.param_of_default = self._defaults_by_param()

    # --- positions -------------------------------------------------------------------------------------------
    def _char_col(self, lineno: int, byte_col: int) -> int:
        return len(self.lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="replace"))

    def _span(self, node: ast.AST) -> tuple[int, int, int, int, int, int]:
        col = self._char_col(node.lineno, node.col_offset)
        end_col = self._char_col(node.end_lineno, node.end_col_offset)
        start = self.line_start[node.lineno - 1] + col
        end = self.line_start[node.end_lineno - 1] + end_col
        return node.lineno, col, node.end_lineno, end_col, start, end

    # --- structure -------------------------------------------------------------------------------------------
    def _functions(self):
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield node

    def _dead_defaults(self) -> set[ast.AST]:
        """Default expressions of the entry's positional parameters the caller always passes."""
        dead: set[ast.AST] = set()
        if self.entry_name is None:
            return dead
        for fn in self._functions():
            if isinstance(fn, ast.Lambda) or fn.name != self.entry_name or self.parent.get(fn) is not self.tree:
                continue
            positional = [*fn.args.posonlyargs, *fn.args.args]
            defaults = fn.args.defaults
            first_default = len(positional) - len(defaults)
            for i, default in enumerate(defaults):
                if first_default + i < self.entry_arity:
                    dead.add(default)
        return dead

    def _defaults_by_param(self) -> dict[ast.AST, tuple[ast.AST, str]]:
        """default expression -> (its function, the parameter's name)."""
        out: dict[ast.AST, tuple[ast.AST, str]] = {}
        for fn in self._functions():
            positional = [*fn.args.posonlyargs, *fn.args.args]
            for arg, default in zip(positional[len(positional) - len(fn.args.defaults) :], fn.args.defaults):
                out[default] = (fn, arg.arg)
            for arg, default in zip(fn.args.kwonlyargs, fn.args.kw_defaults):
                if default is not None:
                    out[default] = (fn, arg.arg)
        return out

    def _ancestors(self, node: ast.AST):
        while node in self.parent:
            child, node = node, self.parent[node]
            yield child, node

    def _inert(self, node: ast.AST) -> str | None:
        """Why a literal at `node` cannot change what the code computes, or None."""
        for child, anc in self._ancestors(node):
            if child in self.dead_defaults:
                return "default of a parameter the caller always passes"
            if isinstance(anc, ast.Assert):
                return "assert"
            if isinstance(anc, ast.JoinedStr):
                return "string formatting"
            if isinstance(anc, ast.arg) or (isinstance(anc, ast.AnnAssign) and child is anc.annotation):
                return "annotation"
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                child in anc.decorator_list or child is anc.returns
            ):
                return "decorator or annotation"
            if isinstance(anc, ast.Call) and _callee(anc) in OUTPUT_CALLS:
                return "output only"
            if _is_main_guard(anc) and child is not anc.test:
                return "demo code under __main__"
        return None

    # --- the int rule ----------------------------------------------------------------------------------------
    def _host(self, node: ast.AST) -> tuple[ast.AST, ast.AST]:
        """Climb through arithmetic to the first non-arithmetic ancestor: (its child on the way, the host)."""
        child = node
        anc = self.parent.get(node)
        while isinstance(anc, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp)):
            child, anc = anc, self.parent.get(anc)
        return child, anc

    def _structural_host(self, node: ast.AST) -> str | None:
        child, host = self._host(node)
        while isinstance(host, (ast.Tuple, ast.Slice)):  # x[a, b * 2], x[: k * 2]
            if isinstance(host, ast.Slice):
                return "slice bound"
            child, host = self._host(host)
        if isinstance(host, ast.Subscript) and child is host.slice:
            return "index"
        if isinstance(host, ast.Call) and _callee(host) in STRUCTURAL_CALLS:
            return f"count/shape argument of {_callee(host)}()"
        if isinstance(host, ast.keyword):
            return f"keyword argument {host.arg}="
        return None

    def _int_use(self, node: ast.AST) -> tuple[str | None, str]:
        """(role, "") if an int at `node` acts as a number, else (None, reason)."""
        parent = self.parent.get(node)
        if isinstance(parent, ast.BinOp):
            other = parent.right if parent.left is node else parent.left
            if not isinstance(parent.op, (ast.Mult, ast.Div, ast.Pow)):
                return None, "integer/offset arithmetic"
            if isinstance(other, (ast.List, ast.Tuple, ast.ListComp, ast.JoinedStr)) or (
                isinstance(other, ast.Constant) and isinstance(other.value, str)
            ):
                return None, "sequence repetition"
            role = "exponent" if isinstance(parent.op, ast.Pow) and parent.right is node else "weight"
        elif isinstance(parent, ast.Compare):
            if not all(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in parent.ops):
                return None, "equality test (a case, not a threshold)"
            role = "threshold"
        elif isinstance(parent, ast.Call) and node in parent.args:
            if _callee(parent) in POWER_CALLS and parent.args.index(node) == 1:
                return "exponent", ""
            return None, f"argument of {_callee(parent) or 'a call'}() (count/axis/size)"
        elif isinstance(parent, ast.Subscript):
            return None, "index"
        elif isinstance(parent, (ast.Slice, ast.Tuple)) and self._structural_host(node):
            return None, self._structural_host(node) or "index"
        elif isinstance(parent, ast.keyword):
            return None, f"keyword argument {parent.arg}="
        else:
            return None, "int not used as a number here (count/index/size?)"
        structural = self._structural_host(node)
        if structural:
            return None, structural
        return role, ""

    def _name_uses(self, scope: ast.AST, name: str) -> tuple[list[ast.Name], int]:
        loads, stores = [], 0
        for node in ast.walk(scope):
            if isinstance(node, ast.Name) and node.id == name:
                if isinstance(node.ctx, ast.Load):
                    loads.append(node)
                else:
                    stores += 1
            elif isinstance(node, ast.arg) and node.arg == name:
                stores += 1
        return loads, stores

    def _int_name_rule(self, literal: ast.AST) -> tuple[str | None, str]:
        """An int assigned to a name (or a parameter's default) is lifted when every use of the name is a number."""
        parent = self.parent.get(literal)
        if literal in self.param_of_default:
            fn, name = self.param_of_default[literal]
            scope, own_stores, role = fn, 1, "default"
        elif isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is literal:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                return None, "assigned to more than one simple name"
            name = targets[0].id
            scope = next(
                (a for _, a in self._ancestors(parent) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef))),
                self.tree,
            )
            own_stores, role = 1, "named constant"
        else:
            return None, ""
        loads, stores = self._name_uses(scope, name)
        if stores > own_stores:
            return None, f"{name} is reassigned"
        if not loads:
            return None, f"{name} is never used"
        for use in loads:
            role_here, reason = self._int_use(use)
            if role_here is None:
                return None, f"{name} is used as a count/index ({reason})"
        return role, ""

    # --- main ------------------------------------------------------------------------------------------------
    def run(self) -> ConstantTemplate:
        params: list[Param] = []
        skipped: list[Skipped] = []
        for node in ast.walk(self.tree):
            if not _numeric(node):
                continue
            parent = self.parent.get(node)
            literal = node
            if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
                literal = parent
            value = node.value if literal is node else -node.value
            line, col, end_line, end_col, start, end = self._span(literal)
            text = self.code[start:end]
            reason = self._inert(literal)
            role = None
            if reason is None:
                role, reason = self._classify(literal, value)
            if role is None:
                skipped.append(Skipped(line, col, text, reason))
                continue
            params.append(
                Param("", line, col, end_line, end_col, text, value, type(value).__name__, role, start, end,
                      literal is not node)
            )
        params.sort(key=lambda p: p.start)
        named = tuple(
            Param(f"p{i}", p.line, p.col, p.end_line, p.end_col, p.text, p.value, p.kind, p.role, p.start, p.end,
                  p.negative_literal)
            for i, p in enumerate(params)
        )
        return ConstantTemplate(self.code, named, tuple(sorted(skipped, key=lambda s: (s.line, s.col))))

    def _classify(self, literal: ast.AST, value: int | float) -> tuple[str | None, str]:
        magnitude = abs(value)
        if isinstance(value, float):
            if 0 < magnitude <= GUARD_MAX:
                return None, "guard epsilon"
            if magnitude >= SENTINEL_MIN:
                return None, "sentinel"
            parent = self.parent.get(literal)
            if value == 0 and (
                isinstance(parent, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.List, ast.Tuple))
            ):
                return None, "zero initial value"
            if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow) and parent.right is literal:
                return "exponent", ""
            if isinstance(parent, ast.Compare):
                return "threshold", ""
            if literal in self.param_of_default:
                return "default", ""
            return "weight", ""
        if magnitude <= 1:
            return None, "0 or 1 (identity or index)"
        if magnitude >= SENTINEL_MIN:
            return None, "sentinel"
        role, reason = self._int_name_rule(literal)
        if role is not None or reason:
            return role, reason
        return self._int_use(literal)
