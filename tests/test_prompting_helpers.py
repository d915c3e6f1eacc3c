"""Helpers for the prompt-optimization tests (no tests here). Everything runs through the real path: the real
`discover.llm.Gateway` with the run store's call log (as `discover.prompting.api.make_prompt_gateway` builds it),
the scripted `fake/<name>` provider answering through `OproResponder`, and the real sandbox for user scorers."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

from discover.interrupt import request_stop
from discover.store import Store

MAGIC = "opposite"
# How the prompt templates in prompts/opro_prompt/ begin: the responder only sees `messages`, so it tells the
# optimizer's meta-prompt and its reflection prompt from a task prompt by their text.
META_HEAD = "Your task is to write an instruction for a language model."
REFLECT_HEAD = "A language model was given this instruction before each input:"
ANALYSIS = "The model repeats the input word instead of transforming it."


def make_task_file(path: Path, n: int = 40) -> Path:
    """Inputs w0..w{n-1}; the target of wK is 'anti-wK'."""
    with open(path, "w") as f:
        for k in range(n):
            f.write(json.dumps({"input": f"w{k}", "target": f"anti-w{k}"}) + "\n")
    return path


class OproResponder:
    """A responder for `discover.llm.fake.script`, for the task model and the optimizer alike.

    Task prompt (instruction + input wK): 'anti-wK' when the instruction contains MAGIC, else right only for K
    divisible by 3. Reflection prompt: ANALYSIS. Meta-prompt: the n-th distinct meta-prompt is step n, and the
    i-th time the same meta-prompt is asked is slot i (each slot asks it once, with its own sample_index); the
    magic instruction is proposed at `magic_step`, slot 1. The counters live in this object, so one responder kept
    across an interrupted run and its resume answers exactly as one uninterrupted run would (cached calls never
    reach it). `interrupt_after=N` presses Ctrl-C (what discover's signal handler does) on the call after N
    answered ones; that call is still answered, and the job stops at its next await."""

    def __init__(self, magic_step: int = 2, interrupt_after: int | None = None) -> None:
        self.magic_step = magic_step
        self.interrupt_after = interrupt_after
        self.steps: dict[str, int] = {}
        self.asked: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()  # answered calls: task / meta / reflect

    @property
    def calls(self) -> int:
        return sum(self.kinds.values())

    def __call__(self, messages: list[dict]) -> str:
        if self.interrupt_after is not None and self.calls == self.interrupt_after:
            request_stop(signal.SIGINT)
        content = [m for m in messages if m["role"] == "user"][-1]["content"]  # the optimizer's answer is prefilled
        if content.startswith(REFLECT_HEAD):
            self.kinds["reflect"] += 1
            return ANALYSIS
        if content.startswith(META_HEAD):
            self.kinds["meta"] += 1
            step = self.steps.setdefault(content, len(self.steps) + 1)
            slot = self.asked[content]
            self.asked[content] += 1
            if step == self.magic_step and slot == 1:
                return f"Sure. <INS>Answer with the {MAGIC} of the word, prefixed anti-.</INS>"
            return f"<INS>Answer carefully (variant {step}.{slot}).</INS>"
        self.kinds["task"] += 1
        word = content.strip().splitlines()[-1].strip()
        k = int(word[1:]) if word[1:].isdigit() else -1
        if MAGIC in content.lower() or k % 3 == 0:
            return f"anti-{word}"
        return word


def calls(runs_dir: Path, run_id: str, *, paid: bool | None = None, role: str | None = None) -> list[dict]:
    """The run's llm_calls rows (paid=True: cached=0 and no error; paid=False: cache hits)."""
    rows = [dict(r) for r in Store(runs_dir).llm_calls(run_id)]
    if paid is True:
        rows = [r for r in rows if not r["cached"] and r["error"] is None]
    elif paid is False:
        rows = [r for r in rows if r["cached"]]
    if role is not None:
        rows = [r for r in rows if r["role"] == role]
    return rows


def prompts(runs_dir: Path, run_id: str, role: str) -> list[str]:
    """The last user message of each paid call of `role`, in call order."""
    return [[m for m in json.loads(r["messages"]) if m["role"] == "user"][-1]["content"]
            for r in calls(runs_dir, run_id, paid=True, role=role)]
