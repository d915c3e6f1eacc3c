"""Regenerate adam_reference.json: Adam's best-of-grid final loss per task of the CPU instance sets, computed
with the evaluator's own protocol (run once; the output is committed so evaluations do not recompute it)."""

import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    spec = importlib.util.spec_from_file_location("optimizer_evaluate", HERE.parent / "evaluate.py")
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)
    out = {}
    for set_name, tasks in ev.INSTANCE_SETS.items():
        if set_name == "cuda":
            continue
        out[set_name] = {}
        for task_name, seeds in tasks:
            loss, lr = ev.tune(ev.adam_init, ev.adam_step, ev.make_task(task_name, ev.load_datasets(str(HERE))), seeds)
            out[set_name][task_name] = {"loss": loss, "lr": lr}
            print(set_name, task_name, loss, lr)
    (HERE / "adam_reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
