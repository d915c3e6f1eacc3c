"""Registration point for operators that need no LLM, e.g. numeric tuning of a valid parent's constants with
discover.tuning_search.tune (CMA-ES over the literals discover.tuning.lift_constants finds).

How such an operator plugs in: its `propose(ctx)` returns a Proposal with `content` set (and `thought`, `meta`
such as {"tuned": params}); the loop then records it as a candidate with that operator name without any LLM call
and evaluates it like any other. Not registered yet: a tuning operator must score many variants, and running
them inside `propose` would hold the proposal builder for the whole search; it should use the evaluator's idle
capacity instead (see docs/architecture.md, "Operators")."""
