"""discover: LLM-driven discovery of algorithms and prompts."""

__version__ = "0.1.0"
