"""Packaging: every package and config in the wheel, one version, and the installed command
working from a wheel outside the checkout (the slow test)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import segue
from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def source_packages() -> set[str]:
    """Every folder of src/segue holding Python files, as a dotted name, and segue.conf."""
    src = REPO / "src"
    found = {
        ".".join(p.parent.relative_to(src).parts)
        for p in (src / "segue").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    return found | {"segue.conf"}


def test_every_package_is_listed_for_the_wheel():
    """The list is explicit (a mapped folder cannot be discovered), so it must be complete."""
    listed = set(SETUPTOOLS["packages"])
    assert source_packages() - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - source_packages() == set(), "these packages no longer exist"


def test_configs_are_mapped_into_the_package_with_every_yaml():
    assert SETUPTOOLS["package-dir"] == {"": "src", "segue.conf": "configs"}
    assert (REPO / "configs" / "__init__.py").is_file()  # Hydra needs a regular package
    assert SETUPTOOLS["package-data"]["segue.conf"] == ["*.yaml", "**/*.yaml"]
    assert all("resources" not in g for globs in SETUPTOOLS["package-data"].values() for g in globs)


def test_one_version_source_and_no_unused_dependency():
    project = PYPROJECT["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "segue.__version__"}
    assert not any(d.startswith("safetensors") for d in project["dependencies"])
    assert project["scripts"] == {"segue": "segue.cli.main:main"}
    assert project["classifiers"] and project["keywords"] and project["authors"]


def test_every_extra_the_command_names_exists():
    from segue.cli.extras import EXTRAS

    assert set(EXTRAS) <= set(PYPROJECT["project"]["optional-dependencies"])


def shared_dependencies(folder: Path, leave_out: tuple[str, ...]) -> Path:
    """Links to this environment's packages except segue itself and ``leave_out``.

    A fresh venv reads them through a .pth file, so the wheel test installs only the wheel
    (no download, seconds) and still runs against a segue that is not the checkout.
    """
    folder.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.endswith(".pth") or name.startswith(("segue", "__editable__", *leave_out)):
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


@pytest.mark.slow
def test_the_wheel_trains_evaluates_exports_and_recommends_outside_the_checkout(tmp_path):
    from segue.io.checkpoint import load_checkpoint

    wheels = tmp_path / "wheels"
    # No build isolation: the environment's setuptools builds it, nothing is downloaded.
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("segue-*.whl")
    assert wheel.name.startswith(f"segue-{segue.__version__}-")  # the one version source
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("segue/conf/__init__.py", "segue/conf/train.yaml", "segue/cli/main.py"):
        assert name in names
    assert "segue/conf/debug/default.yaml" in names and not any(
        n.startswith("tests/") for n in names
    )

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = shared_dependencies(tmp_path / "deps", leave_out=("onnx",))  # onnx, onnxruntime
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "shared_deps.pth").write_text(f"{deps}\n")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )

    work = tmp_path / "work"  # outside the checkout: nothing can come from configs/ or src/
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEGUE_DATA_DIR")}
    env.update(OMP_NUM_THREADS="1", PATH=f"{venv / 'bin'}:{env['PATH']}")

    def run(*argv: str) -> str:
        done = subprocess.run(
            [str(venv / "bin" / "segue"), *argv],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"segue {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    where = subprocess.run(
        [
            str(python),
            "-c",
            "import segue, importlib.util as u; print(segue.__file__, u.find_spec('onnxruntime'))",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == "None"  # the wheel; no onnxruntime

    assert "synthetic*" in run("train", "--help")  # groups read from the installed segue.conf
    out = run("train", "debug=default", "trainer.num_threads=1", "--run-dir", "run")
    assert "test (full-catalogue ranking)" in out
    assert (work / "run" / "train.log").stat().st_size > 0
    run("evaluate", "run/best.pt", "baselines=none", "--run-dir", "eval")
    assert (work / "eval" / "metrics.json").is_file()
    assert "int8: run/best.int8.pt" in run("export", "run/best.pt")
    track = load_checkpoint(work / "run" / "best.pt").vocab.track_ids[0]
    rows = run("recommend", "run/best.pt", track, "--k", "3")
    assert len(rows.splitlines()) == 4
    assert "int8 artefact" in run("info", "run/best.int8.pt")
