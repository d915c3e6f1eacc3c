"""Stand-ins for the prompt-optimization tests (no tests here): a scripted gateway with the CONTRACTS.md
`Gateway.complete` interface (cache by prompt key, budget, paid-call counting), and an in-process sandbox with the
`evaluate(EvalRequest) -> EvalResult` shape. Used when discover.llm / discover.sandbox are not importable."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from discover.errors import BudgetExhausted

MAGIC = "opposite"


def make_task_file(path: Path, n: int = 40) -> Path:
    """Inputs w0..w{n-1}; the target of wK is 'anti-wK'."""
    with open(path, "w") as f:
        for k in range(n):
            f.write(json.dumps({"input": f"w{k}", "target": f"anti-w{k}"}) + "\n")
    return path


@dataclass
class Resp:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    cached: bool
    model: str
    key: str


class ScriptedGateway:
    """Task model: answers 'anti-wK' when the instruction contains MAGIC, else right only for K divisible by 3.
    Optimizer: proposes the step's scripted instruction (the magic one at `magic_step`, slot 1); reflection -> a note."""

    def __init__(self, cache: dict | None = None, max_calls: int | None = None, magic_step: int = 2,
                 interrupt_after: int | None = None) -> None:
        self.cache = {} if cache is None else cache
        self.max_calls = max_calls
        self.magic_step = magic_step
        self.interrupt_after = interrupt_after
        self.paid = 0
        self.paid_by_role: dict[str, int] = {}
        self.prompts: list[tuple[str, str]] = []

    def _answer(self, model: str, messages: list[dict], sample_index: int, role: str) -> str:
        content = messages[-1]["content"]
        if role == "task":
            word = content.strip().splitlines()[-1].strip()
            k = int(word[1:]) if word[1:].isdigit() else -1
            if MAGIC in content.lower() or k % 3 == 0:
                return f"anti-{word}"
            return word
        if "what goes wrong" in content:
            return "The model repeats the input word; the instruction should ask for the opposite."
        step, slot = divmod(sample_index, 1000)
        if step == self.magic_step and slot == 1:
            return f"Sure. <INS>Answer with the {MAGIC} of the word, prefixed anti-.</INS>"
        return f"<INS>Answer carefully (variant {step}.{slot % 2}).</INS>"

    async def complete(self, *, model: str, messages: list[dict], temperature: float, max_tokens: int,
                       sample_index: int = 0, role: str = "task") -> Resp:
        key = hashlib.sha256(json.dumps([model, messages, temperature, max_tokens, sample_index],
                                        sort_keys=True).encode()).hexdigest()
        self.prompts.append((role, messages[-1]["content"]))
        if key in self.cache:
            return Resp(self.cache[key], 0, 0, 0.0, 0.0, True, model, key)
        if self.max_calls is not None and self.paid >= self.max_calls:
            raise BudgetExhausted(f"LLM call budget of {self.max_calls} reached")
        if self.interrupt_after is not None and self.paid >= self.interrupt_after:
            raise KeyboardInterrupt
        text = self._answer(model, messages, sample_index, role)
        self.paid += 1
        self.paid_by_role[role] = self.paid_by_role.get(role, 0) + 1
        self.cache[key] = text
        return Resp(text, 10, 5, 0.001, 0.0, False, model, key)


@dataclass(frozen=True)
class Req:
    code: str
    problem_dir: Path
    instance_set: str
    timeout_s: float
    memory_mb: int


@dataclass
class Res:
    status: str
    score: float | None
    instances: dict
    error: str | None
    traceback: str | None
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration_s: float = 0.0


class InProcessSandbox:
    """Imports the problem's evaluate.py and the candidate in-process (tests only: no isolation)."""

    backend = "in-process-test"

    def evaluate(self, req) -> Res:
        spec = importlib.util.spec_from_file_location("scorer_eval", Path(req.problem_dir) / "evaluate.py")
        ev = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ev)
        mod = types.ModuleType("candidate")
        try:
            exec(compile(req.code, "candidate.py", "exec"), mod.__dict__)
            out = ev.evaluate(mod, req.instance_set, str(Path(req.problem_dir) / "data"))
        except Exception as exc:
            status = "invalid" if type(exc).__name__ == "InvalidSolution" else "error"
            return Res(status, None, {}, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=-3))
        return Res("ok", out.get("score"), out["instances"], None, None)


def sandbox_contract_stub(monkeypatch) -> None:
    """Lets discover.prompting.scorers import `EvalRequest` while discover.sandbox is not there yet (test-scoped)."""
    try:
        import discover.sandbox  # noqa: F401
    except ImportError:
        stub = types.ModuleType("discover.sandbox")
        stub.EvalRequest = Req  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "discover.sandbox", stub)
