-- discover run store, schema version 2 (a fresh store). Bump SCHEMA_VERSION in db.py when this changes and add
-- the step from the previous version to migrations.py.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    problem TEXT NOT NULL,
    problem_dir TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'code',
    strategy TEXT NOT NULL,
    model TEXT NOT NULL,
    sandbox TEXT,
    config TEXT NOT NULL,              -- JSON of the validated run config
    status TEXT NOT NULL,              -- running | finished | stopped | crashed
    stop_reason TEXT,
    pid INTEGER,
    host TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    owner_pid INTEGER,                 -- the process that holds the run (claim_run); NULL when released
    owner_host TEXT,
    owner_started REAL,                -- the owner's process start time: a reused pid is not the owner
    heartbeat_at REAL
);
CREATE TABLE IF NOT EXISTS candidates (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    generation INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    operator TEXT NOT NULL,
    parent_ids TEXT NOT NULL DEFAULT '[]', -- JSON list
    thought TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    llm_call_key TEXT,
    status TEXT NOT NULL,              -- pending | evaluated | rejected | duplicate
    reject_reason TEXT,
    train_score REAL,
    valid INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',   -- JSON object: archive cell, tuned parameters, target details
    UNIQUE (run_id, generation, slot)
);
CREATE INDEX IF NOT EXISTS candidates_run ON candidates(run_id);
CREATE INDEX IF NOT EXISTS candidates_hash ON candidates(run_id, code_hash);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id TEXT NOT NULL REFERENCES candidates(id),
    split TEXT NOT NULL,               -- train | test
    instance_set TEXT NOT NULL,
    status TEXT NOT NULL,              -- ok | error | timeout | ... | suspicious | cancelled (not constrained)
    score REAL,
    instances TEXT NOT NULL DEFAULT '{}', -- JSON: id -> metrics
    error TEXT,
    traceback TEXT,
    stdout_tail TEXT,
    stderr_tail TEXT,
    duration_s REAL,
    created_at REAL NOT NULL
);
-- One evaluation per (candidate, split, set): a retried evaluation on a cluster cannot add a second row.
CREATE UNIQUE INDEX IF NOT EXISTS evaluations_once ON evaluations(candidate_id, split, instance_set);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    role TEXT NOT NULL,
    messages TEXT NOT NULL,            -- JSON
    params TEXT NOT NULL,              -- JSON
    sample_index INTEGER NOT NULL,
    response TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    latency_s REAL NOT NULL DEFAULT 0,
    cached INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_calls_key ON llm_calls(key);
CREATE INDEX IF NOT EXISTS llm_calls_run ON llm_calls(run_id);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id TEXT NOT NULL REFERENCES candidates(id),
    run_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_candidate ON feedback(candidate_id);
-- One row per LLM proposal, written before its call: a resumed run re-issues exactly the pending ones.
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,              -- 0.. per run
    operator TEXT NOT NULL,
    parent_ids TEXT NOT NULL DEFAULT '[]', -- JSON list
    messages TEXT NOT NULL,            -- JSON list of chat messages
    prefix TEXT,                       -- prefilled start of the answer, if any
    sample_index INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL,
    status TEXT NOT NULL,              -- pending | answered | done | failed
    candidate_id TEXT,
    meta TEXT NOT NULL DEFAULT '{}',   -- JSON object
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (run_id, idx)
);
CREATE TABLE IF NOT EXISTS archive_state (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    state TEXT NOT NULL,               -- JSON object, the archive's own format
    updated_at REAL NOT NULL
);
