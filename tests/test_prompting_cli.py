"""`discover prompt` through typer (registered on a bare app, as cli.py does), with the scripted fake LLM."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from discover.prompting import api
from discover.prompting.commands import register
from tests.test_prompting_fakes import MAGIC, ScriptedGateway, make_task_file


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command()
    def noop() -> None:  # a second command so `prompt` stays a subcommand
        pass

    register(app)
    return app


def test_prompt_command_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "make_prompt_gateway", lambda store, run_id, config: ScriptedGateway())
    task = make_task_file(tmp_path / "opp.jsonl", 40)
    res = CliRunner().invoke(_app(), ["prompt", "--task", str(task), "--task-model", "fake/x", "--start", "Answer the question.",
                                      "--steps", "3", "--candidates", "2", "--minibatch", "6", "--scorer", "exact",
                                      "--runs-dir", str(tmp_path / "runs")], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "Stopped: all 3 steps done." in res.output
    assert "start:" in res.output and "best:" in res.output and MAGIC in res.output
    assert "100.0 %" in res.output
    assert "inspect: discover show" in res.output


def test_prompt_command_bad_option(tmp_path):
    res = CliRunner().invoke(_app(), ["prompt", "--task", "antonyms", "--steps", "-1", "--runs-dir", str(tmp_path)])
    assert res.exit_code != 0
    assert "steps" in str(res.exception) or "steps" in res.output
