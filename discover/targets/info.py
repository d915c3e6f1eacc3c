"""What the review, the report and the web view need to know about a kind of target, so that none of them branches
on `kind == "prompt"`: how a candidate's text is shown (Python source or plain text), what one step of a run is
called, and the score defaults for kinds whose runs have no problem folder (prompt runs: accuracy, higher is better).

Each target kind registers one `TargetInfo`; "code" and "prompt" are registered here, new kinds (e.g. "program")
register theirs next to their Target with `register_target_info(...)`. An unknown kind (a run made by a newer
discover) gets the code defaults under its own name, so old review tools still show it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class TargetInfo:
    kind: str
    language: Literal["python", "text"]         # how a candidate's `code` is shown and exported
    unit: str = ""                              # score unit when the run has no problem folder to say it
    direction: Literal["minimize", "maximize"] = "minimize"
    step_word: str = "generation"               # what the run calls one round ("generation", "step")
    text_label: str = "code"                    # what a candidate's text is called ("code", "instruction")
    problem_folder: bool = True                 # runs of this kind load a problem folder (prompt runs do not)
    train_sets: tuple[str, ...] = ()            # instance sets, for kinds without a folder to list them
    test_sets: tuple[str, ...] = ()

    @property
    def minimize(self) -> bool:
        return self.direction == "minimize"


_REGISTRY: dict[str, TargetInfo] = {}


def register_target_info(info: TargetInfo) -> None:
    """Registers (or replaces) the info for `info.kind`."""
    _REGISTRY[info.kind] = info


def target_info(kind: str | None) -> TargetInfo:
    """The registered info for `kind`; an unknown kind gets the code defaults under its own name."""
    name = kind or "code"
    found = _REGISTRY.get(name)
    return found if found is not None else replace(_REGISTRY["code"], kind=name)


def registered_kinds() -> list[str]:
    return sorted(_REGISTRY)


register_target_info(TargetInfo(kind="code", language="python"))
register_target_info(TargetInfo(kind="prompt", language="text", unit="accuracy", direction="maximize", step_word="step",
                                text_label="instruction", problem_folder=False, train_sets=("train",),
                                test_sets=("test",)))
register_target_info(TargetInfo(kind="program", language="text", text_label="program"))
