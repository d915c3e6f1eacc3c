"""The review commands as a user runs them: the real `discover` CLI in a subprocess (one-line errors, exit codes,
parseable --json), on a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_review_helpers import XSS, shared_store

DISCOVER = [sys.executable, "-c", "from discover.cli import main; main()"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return shared_store(tmp_path_factory)


def cli(args: list[str], runs_dir: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DISCOVER_RUNS_DIR=str(runs_dir), COLUMNS="220", NO_COLOR="1")
    return subprocess.run(DISCOVER + args, capture_output=True, text=True, timeout=60, env=env, cwd=cwd or runs_dir.parent)


def one_line_error(out: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert out.returncode == code, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    for n in needles:
        assert n in lines[0]


def test_runs_table_shows_every_run_with_crashed_status(built):
    out = cli(["runs"], built.runs_dir)
    assert out.returncode == 0, out.stderr
    for run_id in (built.run_a, built.run_b, built.run_prompt, built.run_crashed):
        assert run_id in out.stdout
    crashed_line = next(line for line in out.stdout.splitlines() if built.run_crashed in line)
    assert "crashed" in crashed_line
    assert "all 2 generations done" in out.stdout and "prompt:opp" in out.stdout


def test_runs_json_is_parseable_with_schema(built):
    out = cli(["runs", "--json"], built.runs_dir)
    data = json.loads(out.stdout)
    assert data["schema"] == "discover.runs/1"
    by_id = {r["id"]: r for r in data["runs"]}
    assert by_id[built.run_crashed]["status"] == "crashed"
    assert by_id[built.run_a]["llm_calls"] == 5 and by_id[built.run_a]["best_test_id"] == built.best_a


def test_leaderboard_groups_per_problem_and_json(built):
    out = cli(["leaderboard"], built.runs_dir)
    assert out.returncode == 0, out.stderr
    assert "linear · test (abs error, lower is better)" in out.stdout
    assert "prompt:opp · test (accuracy, higher is better)" in out.stdout
    lines = out.stdout.splitlines()
    first = next(line for line in lines if line.strip().startswith("1 "))
    assert built.best_a[:8] in first and built.run_a in first
    assert any(line.split()[:2] == ["base", "zero"] for line in lines)
    data = json.loads(cli(["leaderboard", "--problem", "linear", "--json", "--limit", "3"], built.runs_dir).stdout)
    assert data["schema"] == "discover.leaderboard/1"
    (lb,) = data["leaderboards"]
    assert lb["problem"] == "linear" and [r["rank"] for r in lb["rows"] if r["kind"] == "candidate"] == [1, 2, 3]
    candidates = [r for r in lb["rows"] if r["kind"] == "candidate"]
    assert candidates[0]["candidate_id"] == built.best_a
    # the spec's optimum (0 abs error) is a reference row, ranked above every candidate but never numbered
    assert lb["rows"][0]["kind"] == "reference" and lb["rows"][0]["score"] == 0.0 and lb["rows"][0]["rank"] is None


def test_empty_runs_dir_is_a_friendly_message_not_an_error(tmp_path):
    empty = tmp_path / "runs"
    for args in (["runs"], ["leaderboard"]):
        out = cli(args, empty, cwd=tmp_path)
        assert out.returncode == 0 and f"no runs in {empty}" in out.stderr and "Traceback" not in out.stderr
    data = json.loads(cli(["leaderboard", "--json"], empty, cwd=tmp_path).stdout)
    assert data["leaderboards"] == [] and data["schema"] == "discover.leaderboard/1"
    assert json.loads(cli(["runs", "--json"], empty, cwd=tmp_path).stdout)["runs"] == []
    assert not empty.exists()  # looking does not create a store
    one_line_error(cli(["show", "abc"], empty, cwd=tmp_path), 4, "no run database")


def test_corrupt_database_is_one_line(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "discover.db").write_bytes(b"this is not sqlite" * 100)
    one_line_error(cli(["runs"], runs), 4, "corrupt")
    one_line_error(cli(["leaderboard"], runs), 4, "corrupt")


def test_show_by_unique_prefix_with_scores_feedback_and_diff(built):
    out = cli(["show", built.best_a[:6], "--diff"], built.runs_dir)
    assert out.returncode == 0, out.stderr
    s = out.stdout
    assert f"candidate {built.best_a}" in s and "return 3 * x + 1" in s
    assert "test_small" in s and "test_big" in s and "per instance" in s
    assert "feedback it received" in s and "Result: valid" in s
    assert "Thought: triple and shift" in s
    assert "+    return 3 * x + 1" in s and "(parent, " in s  # the diff against its first parent


def test_show_prints_stored_text_literally(built):
    from discover.store import Store

    out = cli(["show", built.tie_b], built.runs_dir)
    assert f"Thought: {XSS}" in out.stdout

    listed = next(c for c in Store(built.runs_dir, create=False).candidates(built.run_b) if c.thought == "use [x] as a list")
    out = cli(["show", listed.id], built.runs_dir)
    assert "use [x] as a list" in out.stdout  # not eaten as rich markup
    assert "invalid" in out.stdout


def test_ambiguous_and_unknown_ids_are_one_line_errors(built):
    from discover.store import Store

    ids = [c.id for c in Store(built.runs_dir, create=False).candidates()]
    prefix = next(p for p in "0123456789abcdef" if sum(i.startswith(p) for i in ids) > 1)
    one_line_error(cli(["show", prefix], built.runs_dir), 4, "ambiguous")
    one_line_error(cli(["lineage", prefix], built.runs_dir), 4, "ambiguous")
    one_line_error(cli(["show", "zzzz"], built.runs_dir), 4, "no candidate 'zzzz'")
    one_line_error(cli(["report", "2"], built.runs_dir), 4, "ambiguous")
    one_line_error(cli(["report", "nope"], built.runs_dir), 4, "no run 'nope'")
    one_line_error(cli(["leaderboard", "--problem", "tsp"], built.runs_dir), 4, "linear, prompt:opp")
    one_line_error(cli(["leaderboard", "--split", "bogus", "--problem", "linear"], built.runs_dir), 2, "bogus")


def test_lineage_tree_lists_parents_with_operators_and_scores(built):
    from discover.store import Store

    store = Store(built.runs_dir, create=False)
    best = store.get_candidate(built.best_a)
    out = cli(["lineage", best.id[:7]], built.runs_dir)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{best.id} {best.operator} · gen {best.generation} · train 0 · test 0")
    for pid in best.parent_ids:
        parent = store.get_candidate(pid)
        assert any(f"{pid} {parent.operator} · gen {parent.generation}" in line for line in lines[1:])
    assert any(line.lstrip("│ ").startswith(("└── ", "├── ")) for line in lines[1:])


def test_show_prompt_candidate_instruction_and_all_instances(built):
    from discover.store import Store

    store = Store(built.runs_dir, create=False)
    best = max((c for c in store.candidates(built.run_prompt) if c.valid), key=lambda c: c.train_score)
    train = next(e for e in store.evaluations(best.id, "train") if e.instance_set == "train")
    out = cli(["show", best.id], built.runs_dir)
    assert "instruction" in out.stdout and best.code in out.stdout
    assert f"train / train per instance (first 10 of {len(train.instances)};" in out.stdout
    full = cli(["show", best.id, "--all"], built.runs_dir).stdout
    assert "first 10" not in full
    section = full.split("train / train per instance")[1].split("test / test per instance")[0]
    assert [line.split()[0] for line in section.splitlines()[3:] if line.strip()] == list(train.instances)
