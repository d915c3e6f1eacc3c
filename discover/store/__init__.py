from discover.store.db import CandidateRow, EvaluationRow, RunRow, Store, default_runs_dir

__all__ = ["Store", "RunRow", "CandidateRow", "EvaluationRow", "default_runs_dir"]
