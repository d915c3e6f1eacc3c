"""The one loop (loop.py), its LLM handle (llm.py), counters (stats.py) and the run around it (runner.py)."""

from discover.engine.runner import Interrupted, make_gateway, run_async, run_sync
from discover.engine.stats import RunStats, RunSummary

__all__ = ["Interrupted", "RunStats", "RunSummary", "make_gateway", "run_async", "run_sync"]
