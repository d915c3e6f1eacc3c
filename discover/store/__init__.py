from discover.store.db import (
    CandidateRow,
    EvaluationRow,
    ProposalRow,
    RunRow,
    Store,
    default_runs_dir,
)

__all__ = ["CandidateRow", "EvaluationRow", "ProposalRow", "RunRow", "Store", "default_runs_dir"]
