"""Shared fixtures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def docker_daemon():
    """Start a Docker daemon with sandbox/docker-up.sh if none answers (root only); stop it afterwards."""
    from discover.sandbox.docker import docker_unavailable

    started = False
    up = Path(__file__).parents[1] / "sandbox" / "docker-up.sh"
    if docker_unavailable() and os.getuid() == 0 and os.environ.get("DISCOVER_TEST_DOCKER", "1") == "1":
        started = subprocess.run(["bash", str(up)], capture_output=True, timeout=600).returncode == 0
        docker_unavailable.cache_clear()
    yield docker_unavailable()
    if started:
        subprocess.run(["bash", str(up.with_name("docker-down.sh"))], capture_output=True, timeout=120)
