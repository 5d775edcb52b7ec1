"""``pip install`` of a wheel (not the checkout) gives a ``streaminfer demo`` that runs from an
empty folder: its YAML ships as package data, its model is trained into ./models."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.integration

#: As a user's shell has it: not this checkout on the path (pip would see it as installed).
ENV = {key: value for key, value in os.environ.items()
       if key not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")} | {"COLUMNS": "200"}


def _run(*args: object, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project's wheel installed (dependencies seen from this one's
    site-packages through a path file, so nothing is downloaded): its bin folder."""
    root = tmp_path_factory.mktemp("wheel")
    wheels, venv = root / "wheels", root / "venv"
    _run(sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "-q", "-w", wheels, cwd=root)
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(site.strip()) / "shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q",
         *wheels.glob("*.whl"))
    return venv / "bin"


def test_the_wheel_runs_the_demo_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    where = _run(installed / "python", "-c", "import streaminfer; print(streaminfer.__file__)",
                 cwd=tmp_path)
    assert where.startswith(str(installed.parent)), where  # the wheel's copy, not REPO's
    done = subprocess.run([installed / "streaminfer", "demo", "--max-events", "300"],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all events accounted for" in done.stdout
    assert "shipped with streaminfer" in done.stdout
    assert (tmp_path / "models" / "breast_cancer.onnx").exists()
