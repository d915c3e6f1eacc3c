"""The stand-in LLM that recorded tsp_prompts.json: the prompts of a real prefilled TSP run (EoH operators,
parents, feedback, re-asks), answered by a fake model so no model time is spent. Re-record with

    DISCOVER_FAKE_RESPONDER=bench/data/record_responder.py:respond discover evolve --problem tsp \
        --model fake/rec --max-llm-calls 40 --config <toml with prefill = "on"> --runs-dir /tmp/rec
    .venv/bin/python bench/llm_bench.py --record-from /tmp/rec/discover.db
"""

import hashlib
import random

BODIES = [
    """    # Idea: nearest neighbour with a pull towards the destination.
    import numpy as np
    d = distance_matrix[current_node][list(unvisited_nodes)]
    back = distance_matrix[destination_node][list(unvisited_nodes)]
    return list(unvisited_nodes)[int(np.argmin(d - {w} * back))]
""",
    """    # Idea: weigh distance against mean distance to the rest.
    import numpy as np
    nodes = list(unvisited_nodes)
    d = distance_matrix[current_node][nodes]
    m = distance_matrix[nodes][:, nodes].mean(axis=1)
    return nodes[int(np.argmin(d - {w} * m))]
""",
]


def respond(messages):
    rng = random.Random(int(hashlib.sha256(str(messages).encode()).hexdigest()[:8], 16))
    return BODIES[rng.randrange(len(BODIES))].replace("{w}", f"{rng.uniform(0.05, 0.6):.3f}")
