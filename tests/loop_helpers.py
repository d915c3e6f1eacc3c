"""Shared pieces for the loop tests: the fixture problem and scripted answers."""

from pathlib import Path

LINEAR = str(Path(__file__).parent / "fixtures" / "problems" / "linear")


def answer(body: str, thought: str = "try something") -> str:
    return f"Thought: {thought}\n```python\ndef solve(x):\n    {body}\n```"


GOOD = [answer("return 2 * x", "double it"), answer("return 3 * x", "triple it"),
        answer("return 3 * x + 1", "triple and shift"), answer("return 3 * x + 0.5", "almost")]


def cycling(answers):
    """A responder that hands out `answers` in order, then repeats variations that stay distinct."""
    state = {"n": 0}

    def respond(messages):
        i = state["n"]
        state["n"] += 1
        if i < len(answers):
            return answers[i]
        return answer(f"return 3 * x + 1 + {i} * 0.0001", f"nudge {i}")

    return respond


DATA = {"train": {"a": 1.0, "b": 2.0, "c": -1.0, "d": 4.0}, "test_small": {"e": 2.0, "f": 3.0},
        "test_big": {"g": 100.0, "h": 200.0}}


class InProcessEvaluator:
    """A real implementation of the Evaluator interface for loop tests that must not depend on the sandbox: it runs
    the candidate in this process and scores it like the linear fixture (mean |solve(x) - (3x + 1)| per set).
    `delay_s(code)` sets how long an evaluation takes (stragglers); `log` records (start, end, code) per call."""

    capacity = 8
    backend = "in-process (tests)"

    def __init__(self, delay_s=lambda code: 0.0) -> None:
        self.delay_s = delay_s
        self.log: list[tuple[float, float, str]] = []

    async def evaluate(self, code, instance_sets, *, split="train", deadline=None):
        import asyncio
        import time

        from discover.targets.base import EvalRecord

        t0 = time.monotonic()
        await asyncio.sleep(self.delay_s(code))
        out = []
        for s in instance_sets:
            env: dict = {}
            try:
                exec(compile(code, "candidate.py", "exec"), env)
                inst = {k: {"score": abs(float(env["solve"](x)) - (3 * x + 1))} for k, x in DATA[s].items()}
                out.append(EvalRecord(status="ok", score=sum(v["score"] for v in inst.values()) / len(inst),
                                      instances=inst))
            except Exception as exc:  # the candidate's fault: recorded, as the sandbox would
                out.append(EvalRecord(status="error", score=None, instances={}, error=f"{type(exc).__name__}: {exc}",
                                      traceback=f"Traceback (most recent call last):\n  ...\n{type(exc).__name__}: {exc}"))
        self.log.append((t0, time.monotonic(), code))
        return out

    def close(self) -> None:
        pass
