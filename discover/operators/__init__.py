"""Operators (what one proposal asks for) and strategies (which operator each proposal uses), by name."""

from discover.operators.base import CandidateView, Proposal, ProposeContext, render
from discover.operators.registry import STRATEGIES, get_operator, get_strategy, has_operator, register_operator, register_strategy

# Importing registers them.
from discover.operators import eoh, opro, opro_prompt, repair, strategies, tune  # noqa: E402,F401
from discover.operators import demos, merge, prompt_search, reflect  # noqa: E402,F401  (prompt search)

__all__ = ["CandidateView", "Proposal", "ProposeContext", "render", "STRATEGIES", "get_operator", "get_strategy",
           "has_operator", "register_operator", "register_strategy"]
