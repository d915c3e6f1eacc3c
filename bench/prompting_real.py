"""Real prompt-optimization run with the embedded local model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF).

Uses discover.llm.Gateway when it exists. Until the gateway lands, a minimal in-process stand-in with the same
`complete()` interface (cyllama, greedy at temperature 0, in-memory cache, serialized calls) runs the model.
Usage: nice python bench/prompting_real.py --task larger_animal --train 20 --test 30 --steps 3 [--model-path M.gguf]"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass


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


class CyllamaStandIn:
    """Stand-in for discover.llm.Gateway (local model only)."""

    def __init__(self, model_path: str) -> None:
        from cyllama import LLM, GenerationConfig

        self.GenerationConfig = GenerationConfig
        self.llm = LLM(model_path, n_ctx=2048)
        self.cache: dict[str, str] = {}
        self.lock = asyncio.Lock()
        self.paid = 0

    async def complete(self, *, model, messages, temperature, max_tokens, sample_index=0, role="task"):
        key = hashlib.sha256(json.dumps([model, messages, temperature, max_tokens, sample_index], sort_keys=True).encode()).hexdigest()
        if key in self.cache:
            return Resp(self.cache[key], 0, 0, 0.0, 0.0, True, model, key)
        async with self.lock:
            cfg = self.GenerationConfig(max_tokens=max_tokens, temperature=max(temperature, 0.0),
                                        seed=1000 + sample_index, n_ctx=2048)
            t0 = time.monotonic()
            r = await asyncio.to_thread(self.llm.chat, messages, cfg)
            dt = time.monotonic() - t0
        text = str(r)
        st = getattr(r, "stats", None)
        self.cache[key] = text
        self.paid += 1
        return Resp(text, getattr(st, "prompt_tokens", 0), getattr(st, "generated_tokens", 0), 0.0, dt, False, model, key)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="larger_animal")
    ap.add_argument("--train", type=int, default=20)
    ap.add_argument("--test", type=int, default=30)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=3)
    ap.add_argument("--minibatch", type=int, default=8)
    ap.add_argument("--start", default="")
    ap.add_argument("--model-path", default="/tmp/pm/model.gguf")
    ap.add_argument("--runs-dir", default=tempfile.mkdtemp(prefix="prompt-bench-"))
    args = ap.parse_args()

    from discover.prompting import PromptConfig, run_prompt_job

    model = "local/qwen2.5-coder-0.5b"
    cfg = PromptConfig(task=args.task, max_train=args.train, max_test=args.test, steps=args.steps,
                       candidates_per_step=args.candidates, minibatch=args.minibatch, start=args.start,
                       task_model=model, optimizer_model=model, llm_concurrency=1, test_top_k=2)
    try:
        import discover.llm  # noqa: F401
        gateway = None
        how = "discover.llm.Gateway"
    except ImportError:
        gateway = CyllamaStandIn(args.model_path)
        how = "bench stand-in (cyllama in-process)"
    t0 = time.monotonic()

    def on_update(s):
        print(f"[{time.monotonic() - t0:6.0f} s] {s.phase}; best {s.best_score}; calls {s.llm_calls} ({s.task_calls}/{s.optimizer_calls})",
              file=sys.stderr, flush=True)

    s = run_prompt_job(cfg, runs_dir=args.runs_dir, gateway=gateway, on_update=on_update)
    wall = time.monotonic() - t0
    out = {
        "task": args.task, "n_train": s.n_train, "n_test": s.n_test, "steps": args.steps, "candidates": args.candidates,
        "gateway": how, "stop_reason": s.stop_reason,
        "start": {"instruction": s.start.code, "train": s.start.train_score, "test": s.test_scores.get(s.start.id)},
        "best": {"instruction": s.best.code, "train": s.best.train_score, "test": s.test_scores.get(s.best.id)},
        "paid_calls": s.stats.llm_calls, "task_calls": s.stats.task_calls, "optimizer_calls": s.stats.optimizer_calls,
        "cached_calls": s.stats.cached_calls, "wall_s": round(wall, 1), "run_id": s.run_id, "runs_dir": args.runs_dir,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
