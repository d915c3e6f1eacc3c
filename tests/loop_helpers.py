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
