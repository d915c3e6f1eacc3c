import pytest

from discover.config import build_config
from discover.errors import ConfigError


def test_flags_override_file_values(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('generations = 7\npopulation = 3\nstrategy = "opro"\n')
    cfg = build_config(f, generations=2, population=None)
    assert (cfg.generations, cfg.population, cfg.strategy) == (2, 3, "opro")


def test_yaml_config(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("max_llm_calls: 12\nmodel: openai/gpt-4o-mini\n")
    cfg = build_config(f)
    assert cfg.max_llm_calls == 12 and not cfg.use_prefill()
    assert build_config().use_prefill()  # the default local model gets completion-style prompts


@pytest.mark.parametrize("text,message", [
    ("generations = 0\n", "generations: Input should be greater than or equal to 1"),
    ("strategy = 'annealing'\n", "strategy: unknown strategy 'annealing'; choose one of: eoh, opro"),
    ("schedule = 'sometimes'\n", "schedule: Input should be 'steady' or 'generational'"),
    ("[prompt]\nminibatch = 0\n", "prompt.minibatch: Input should be greater than or equal to 1"),
    ("popsize = 3\n", "popsize: Extra inputs are not permitted"),
    ("generations = [\n", "cannot parse"),
])
def test_bad_config_is_one_readable_line(tmp_path, text, message):
    f = tmp_path / "run.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config(f)


def test_nested_prompt_section_merges_key_by_key(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[prompt]\ntask = "antonyms"\nminibatch = 4\n')
    cfg = build_config(f, prompt={"minibatch": 7, "task": None})
    assert (cfg.prompt.task, cfg.prompt.minibatch) == ("antonyms", 7)


def _evolve_cli(tmp_path, *args):
    from typer.testing import CliRunner

    from discover.cli import app
    from discover.llm import fake
    from tests.loop_helpers import GOOD, cycling

    fake.reset()
    fake.script("coder", cycling(GOOD))
    try:
        return CliRunner().invoke(app, ["evolve", "--runs-dir", str(tmp_path / "runs"), "--progress", "quiet", *args],
                                  terminal_width=200)
    finally:
        fake.reset()


def test_config_file_problem_is_not_overridden_by_an_unset_flag(tmp_path):
    from discover.store import Store
    from tests.loop_helpers import LINEAR

    f = tmp_path / "run.toml"
    f.write_text(f'problem = "{LINEAR}"\nmodel = "fake/coder"\ngenerations = 1\npopulation = 2\nsandbox = "process"\n'
                 f'schedule = "generational"\n')
    res = _evolve_cli(tmp_path, "--config", str(f))
    assert res.exit_code == 0, res.output
    run = Store(tmp_path / "runs").list_runs()[0]
    assert run.problem == "linear" and run.config["generations"] == 1 and run.config["schedule"] == "generational"


def test_a_given_flag_wins_over_the_config_file(tmp_path):
    from discover.store import Store
    from tests.loop_helpers import LINEAR

    f = tmp_path / "run.toml"
    f.write_text('problem = "binpack"\nmodel = "fake/coder"\ngenerations = 3\npopulation = 2\nsandbox = "process"\n')
    res = _evolve_cli(tmp_path, "--config", str(f), "--problem", LINEAR, "--generations", "1")
    assert res.exit_code == 0, res.output
    run = Store(tmp_path / "runs").list_runs()[0]
    assert run.problem == "linear" and run.config["generations"] == 1 and run.config["population"] == 2
