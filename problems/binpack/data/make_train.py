"""Regenerate train_weibull.json (the training instances). Run once; the output is committed.

FunSearch's Weibull instances (Romera-Paredes et al., Nature 2024, Methods): item sizes drawn from a
Weibull distribution with shape 3 and scale 45, clipped to the bin capacity 100 and rounded to integers.
FunSearch trained on 5,000-item instances; ours are 5 x 1,000 items so one training evaluation stays quick.
"""

import json
from pathlib import Path

import numpy as np

SHAPE, SCALE, CAPACITY = 3.0, 45.0, 100
N_INSTANCES, N_ITEMS, SEED = 5, 1000, 20240101


def main() -> None:
    rng = np.random.default_rng(SEED)
    out = {}
    for i in range(N_INSTANCES):
        sizes = np.clip(rng.weibull(SHAPE, N_ITEMS) * SCALE, 1, CAPACITY)
        out[f"train_{i}"] = {"capacity": CAPACITY, "items": [int(x) for x in np.round(sizes)]}
    path = Path(__file__).with_name("train_weibull.json")
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({N_INSTANCES} x {N_ITEMS} items, seed {SEED})")


if __name__ == "__main__":
    main()
