"""discover: LLM-driven discovery of algorithms and prompts.

    import discover
    summary = discover.evolve(problem="tsp", generations=3)          # or: await discover.evolve_async(...)
    summary = discover.optimize_prompt(task="antonyms", generations=3)

The entry points load lazily: the sandbox's worker processes import this package and must start fast."""

__version__ = "0.1.0"

_API = {"evolve", "evolve_async", "optimize_prompt", "optimize_prompt_async"}
__all__ = [*sorted(_API), "RunConfig", "__version__"]


def __getattr__(name: str):
    if name in _API:
        from discover import api

        return getattr(api, name)
    if name == "RunConfig":
        from discover.config import RunConfig

        return RunConfig
    raise AttributeError(f"module 'discover' has no attribute {name!r}")
