"""`discover prompt` through typer (registered on a bare app, as cli.py does), with the real gateway and the scripted
`fake/` provider configured by --task-model (the optimizer defaults to the same model)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from discover.llm import fake
from discover.prompting.commands import register
from discover.store import Store
from tests.test_prompting_helpers import MAGIC, OproResponder, calls, make_task_file


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command()
    def noop() -> None:  # a second command so `prompt` stays a subcommand
        pass

    register(app)
    return app


def test_prompt_command_end_to_end(tmp_path):
    responder = OproResponder()
    fake.script("x", responder)
    task = make_task_file(tmp_path / "opp.jsonl", 40)
    res = CliRunner().invoke(_app(), ["prompt", "--task", str(task), "--task-model", "fake/x", "--start", "Answer the question.",
                                      "--steps", "3", "--candidates", "2", "--minibatch", "6", "--scorer", "exact",
                                      "--runs-dir", str(tmp_path / "runs")], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "Stopped: all 3 steps done." in res.output
    assert "start:" in res.output and "best:" in res.output and MAGIC in res.output
    assert "100.0 %" in res.output
    assert "inspect: discover show" in res.output
    run = Store(tmp_path / "runs").list_runs()[0]
    assert run.kind == "prompt" and run.status == "finished" and run.config["model"] == "fake/x"
    roles = {r["role"] for r in calls(tmp_path / "runs", run.id, paid=True)}
    assert roles == {"task", "optimizer"} and responder.kinds["meta"] == 3 * 2
    assert f"{len(calls(tmp_path / 'runs', run.id, paid=True))} paid LLM calls" in res.output


def test_prompt_command_bad_option(tmp_path):
    res = CliRunner().invoke(_app(), ["prompt", "--task", "antonyms", "--steps", "-1", "--runs-dir", str(tmp_path)])
    assert res.exit_code != 0
    assert "steps" in str(res.exception) or "steps" in res.output
