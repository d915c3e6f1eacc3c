"""A prompt candidate with several parts — a system text, an instruction, few-shot demos drawn from the train split,
an output-format line — stored as one text, so the loop (fingerprints, duplicates, the store, review) treats it
like any other candidate. A candidate with an instruction only is stored as that instruction's plain text, exactly
as before parts existed (same fingerprints, same task-model prompts, same cached answers).

Demos are shown to the task model as earlier chat turns (the demo's input as a user turn, its target as the
assistant's answer), which is how a chat model best picks up the answer format. An example being scored never sees
itself as a demo (leave-one-out), so a demo set is not rewarded for answering its own examples."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from discover.prompting.datasets import Example

KEYS = ("system", "instruction", "format", "demos")


@dataclass(frozen=True)
class Demo:
    id: str          # the train example it was drawn from
    input: str
    answer: str

    @classmethod
    def of(cls, e: Example) -> "Demo":
        return cls(id=e.id, input=e.input, answer=e.target)


@dataclass(frozen=True)
class PromptParts:
    instruction: str = ""
    demos: tuple[Demo, ...] = field(default_factory=tuple)
    system: str = ""
    format: str = ""        # a line placed after the instruction, e.g. "Answer with one word."

    @property
    def plain(self) -> bool:
        return not (self.demos or self.system or self.format)

    def with_instruction(self, text: str) -> "PromptParts":
        return replace(self, instruction=text.strip())

    def with_demos(self, demos: list[Demo] | tuple[Demo, ...]) -> "PromptParts":
        return replace(self, demos=tuple(demos))

    def describe(self) -> str:
        """One line for people and logs: the instruction and how many demos come with it."""
        extra = [f"{len(self.demos)} demos"] if self.demos else []
        extra += ["system text"] if self.system else []
        extra += [f"format: {self.format}"] if self.format else []
        return self.instruction + (f"  [{'; '.join(extra)}]" if extra else "")


def decode(content: str) -> PromptParts:
    """Stored text -> parts. Anything that is not a JSON object of the known keys is a plain instruction."""
    text = content.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and data and set(data) <= set(KEYS):
            demos = tuple(Demo(id=str(d.get("id", "")), input=str(d["input"]), answer=str(d["answer"]))
                          for d in data.get("demos", []) if isinstance(d, dict) and "input" in d and "answer" in d)
            return PromptParts(instruction=str(data.get("instruction", "")).strip(), demos=demos,
                               system=str(data.get("system", "")).strip(), format=str(data.get("format", "")).strip())
    return PromptParts(instruction=text)


def encode(parts: PromptParts) -> str:
    """Parts -> stored text: the plain instruction when there is nothing else, else canonical JSON (stable keys, so
    equal candidates have equal fingerprints)."""
    if parts.plain:
        return parts.instruction.strip()
    data: dict[str, Any] = {"instruction": parts.instruction.strip()}
    if parts.system:
        data["system"] = parts.system
    if parts.format:
        data["format"] = parts.format
    if parts.demos:
        data["demos"] = [{"id": d.id, "input": d.input, "answer": d.answer} for d in parts.demos]
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def task_messages(parts: PromptParts, example: Example, first_turn: Any) -> list[dict[str, str]]:
    """The task model's messages for one example. `first_turn(head, input)` renders the first user turn (the
    instruction template); later demo turns and the example's own turn are the bare inputs."""
    head = "\n".join(x for x in (parts.instruction, parts.format) if x)
    demos = [d for d in parts.demos if d.id != example.id and d.input != example.input]  # leave-one-out
    messages: list[dict[str, str]] = [{"role": "system", "content": parts.system}] if parts.system else []
    inputs = [d.input for d in demos] + [example.input]
    for i, text in enumerate(inputs):
        messages.append({"role": "user", "content": first_turn(head, text) if i == 0 else text})
        if i < len(demos):
            messages.append({"role": "assistant", "content": demos[i].answer})
    return messages
