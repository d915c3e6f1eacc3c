"""Where operators that need no LLM plug in. Such an operator's `propose(ctx)` returns a Proposal with `content`
set (plus `thought` and `meta`); the loop records it as a candidate under the operator's name without an LLM call
and evaluates it like any other (see `demos` in demos.py).

Numeric tuning of a candidate's constants (discover.tuning + discover.tuning_search) is not a proposal: it scores
many variants, so it runs in discover/engine/tuner.py beside the proposals, on the evaluator's idle capacity, and
stores the tuned child with operator "tune" and its parameters in meta (config `tune_budget`, `tune_top`)."""
