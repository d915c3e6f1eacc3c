"""The sandbox's public surface: backend discovery, auto selection, errors, the process warning."""

from __future__ import annotations

import pytest

from discover.errors import SandboxError
from discover.sandbox import available_backends, open_sandbox


def test_available_backends_shape():
    av = available_backends()
    assert set(av) == {"bwrap", "docker", "process"}
    assert av["process"] is None
    for name, reason in av.items():
        assert reason is None or (isinstance(reason, str) and "\n" not in reason), name


def test_auto_picks_strongest():
    av = available_backends()
    expected = next(b for b in ("bwrap", "docker", "process") if av[b] is None)
    with pytest.warns(RuntimeWarning) if expected == "process" else _null():
        with open_sandbox("auto", workers=1) as sb:
            assert sb.backend == expected


def test_unknown_backend():
    with pytest.raises(SandboxError, match="unknown sandbox backend"):
        open_sandbox("chroot")


def test_process_warns():
    with pytest.warns(RuntimeWarning, match="sandbox is weak"):
        open_sandbox("process", workers=1).close()


@pytest.mark.docker
def test_docker_gpu_without_toolkit_is_a_clear_error():
    from discover.sandbox.docker import docker_unavailable

    if docker_unavailable():
        pytest.skip(f"sandbox backend docker unavailable: {docker_unavailable()}")
    try:
        open_sandbox("docker", workers=1, gpus="all").close()
    except SandboxError as e:
        assert "\n" not in str(e) and "GPU" in str(e)
    # (if the daemon has the NVIDIA toolkit, opening simply works)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
