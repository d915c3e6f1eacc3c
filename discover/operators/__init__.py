from discover.errors import ConfigError
from discover.strategies.base import CandidateView, Proposal, SlotContext
from discover.strategies.eoh import EoHStrategy
from discover.strategies.opro import OPROStrategy

STRATEGIES = {"eoh": EoHStrategy, "opro": OPROStrategy}


def make_strategy(name: str):
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}") from None


__all__ = ["CandidateView", "Proposal", "SlotContext", "make_strategy", "STRATEGIES"]
