"""Regenerates the built-in prompt tasks from the offline copies in ../shared/data/prompt_tasks (see README.md).
Not imported by discover; run by hand: python discover/prompting/tasks/build.py /work/shared/data/prompt_tasks"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent
II = ["antonyms", "larger_animal", "first_word_letter", "second_word_letter", "sentiment", "sum", "diff",
      "singular_to_plural", "letters_list"]
BBH = ["boolean_expressions", "navigate", "sports_understanding"]
N_II_TRAIN = 150  # sampled from APE's `induce` split; `execute` (100 rows) is the test split
N_BBH_TRAIN = 50  # OPRO used a 20 % train / 80 % test split of each BBH task
N_GSM_TRAIN, N_GSM_TEST = 200, 300


def write(name: str, split: str, rows: list[dict]) -> None:
    d = HERE / name
    d.mkdir(exist_ok=True)
    with open(d / f"{split}.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main(src: Path) -> None:
    rng = random.Random(0)
    for t in II:
        induce = list(json.loads((src / "instruction_induction/induce" / f"{t}.json").read_text())["examples"].values())
        execute = list(json.loads((src / "instruction_induction/execute" / f"{t}.json").read_text())["examples"].values())
        train = rng.sample(induce, N_II_TRAIN)
        write(t, "train", [{"input": e["input"], "target": e["output"]} for e in train])
        write(t, "test", [{"input": e["input"], "target": e["output"]} for e in execute])
    for t in BBH:
        ex = json.loads((src / "bbh" / f"{t}.json").read_text())["examples"]
        idx = list(range(len(ex)))
        rng.shuffle(idx)
        write(t, "train", [ex[i] for i in sorted(idx[:N_BBH_TRAIN])])
        write(t, "test", [ex[i] for i in sorted(idx[N_BBH_TRAIN:])])
    for split, n in (("train", N_GSM_TRAIN), ("test", N_GSM_TEST)):
        with open(src / "gsm8k" / f"gsm_{split}.tsv", newline="") as f:
            rows = [{"input": r[0], "target": r[1]} for r in csv.reader(f, delimiter="\t")]
        write("gsm8k", split, rng.sample(rows, n))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/prompt_tasks"))
