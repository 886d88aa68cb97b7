"""A plain (non-editable) `pip install .` into a fresh venv finds sql/, web/ and MNIST."""

from __future__ import annotations

import ast
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import mlpaint, mlpaint.resources as r
from pathlib import Path
assert "site-packages" in mlpaint.__file__, mlpaint.__file__
for name, probe in [("sql", "folds.sql"), ("web", "index.html"),
                    ("data/mnist", "train-images-idx3-ubyte.gz"), ("experiments", "default.toml")]:
    folder = r.resource_dir(name)
    assert "site-packages" in str(folder), folder
    assert (folder / probe).is_file(), folder / probe
print("ok")
"""


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (reusing this interpreter's third-party packages) with mlpaint's wheel."""
    root = tmp_path_factory.mktemp("venv")
    wheels = root / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    env_dir = root / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _reuse_our_packages(python)
    wheel = next(wheels.glob("mlpaint-*.whl"))
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)
    return python


def _reuse_our_packages(python: Path) -> None:
    """Let the new venv import this interpreter's third-party packages, however it was set up.

    ``system_site_packages`` would reach the *base* interpreter's, which lack duckdb when the
    suite itself runs in a venv. A path in a .pth file adds the folder without running the .pth
    files inside it, so an editable mlpaint there stays out of the way.
    """
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    Path(purelib, "mlpaint-test-deps.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")


def test_wheel_install_finds_its_files(installed_venv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [installed_venv, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_installed_console_script_imports_vendored_data(installed_venv: Path, tmp_path: Path):
    script = installed_venv.parent / "mlpaint"
    db = tmp_path / "fresh.duckdb"
    result = subprocess.run(
        [script, "import", "--db", str(db)], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Imported 70,000 digits" in result.stdout
    folds = subprocess.run(
        [
            script,
            "sql",
            "--db",
            str(db),
            "--format",
            "csv",
            "SELECT count(*) AS n FROM digits_test",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert folds.stdout == "n\n13902\n", folds.stderr


def test_wheel_ships_the_notebook_widgets(installed_venv: Path, tmp_path: Path) -> None:
    # Each widget's ES module is built from files in mlpaint/notebook/ and mlpaint/web/.
    check = (
        "from mlpaint.notebook.widgets import bundle, web_modules\n"
        "assert 'site-packages' in bundle.__code__.co_filename\n"
        "print(sorted(web_modules()), len(bundle('paint.js')) > 0, len(bundle('explorer.js')) > 0)"
    )
    result = subprocess.run(
        [installed_venv, "-c", check], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    modules, paint, explorer = result.stdout.rsplit(maxsplit=2)
    assert {"canvas.js", "heatmap.js"} <= set(ast.literal_eval(modules)), result.stdout
    assert (paint, explorer) == ("True", "True")
