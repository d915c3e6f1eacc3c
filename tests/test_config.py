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
    ("strategy = 'annealing'\n", "strategy: Input should be 'eoh' or 'opro'"),
    ("popsize = 3\n", "popsize: Extra inputs are not permitted"),
    ("generations = [\n", "cannot parse"),
])
def test_bad_config_is_one_readable_line(tmp_path, text, message):
    f = tmp_path / "run.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config(f)
