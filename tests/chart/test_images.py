"""The images cannot be built here (no Docker engine): their Dockerfiles are linted with hadolint, and
they install with the same script as the set-up command."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "deploy" / "images").glob("Dockerfile.*"))


def test_there_is_a_cuda_and_a_cpu_image():
    assert [d.name for d in DOCKERFILES] == ["Dockerfile.cpu", "Dockerfile.cuda"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda d: d.name)
def test_the_dockerfile_passes_hadolint(dockerfile):
    done = subprocess.run([str(Path(sys.prefix) / "bin" / "hadolint"), str(dockerfile)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda d: d.name)
def test_the_image_installs_as_the_set_up_command_does(dockerfile):
    flavor = dockerfile.suffix.lstrip(".")
    text = dockerfile.read_text()
    assert f"bash scripts/install_deps.sh {flavor}" in text
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/install_deps.sh cpu test --editable" in setup and "scripts/install_deps.sh cuda test" in setup
    assert "USER 1000:1000" in text  # the chart's securityContext.runAsUser
