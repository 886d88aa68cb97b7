"""The package's layers: found where its name says, no import cycle, no web stack for the CLI."""

from __future__ import annotations

import ast
import site
import subprocess
import sys
from pathlib import Path

from conftest import TINY_CONFIG, cli

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plugin" / "mlpaint"
WEB_STACK = ("flask", "gunicorn", "werkzeug")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The mlpaint modules a file imports at module level (imports inside functions run late)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlpaint"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mlpaint"))
    return found


def test_no_import_cycle_among_the_packages_modules() -> None:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imports_of(path) & set(files) for name, path in files.items()}
    for name in graph:  # a package's own __init__ is not an edge back to it
        graph[name].discard(name.rpartition(".")[0])
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != "open", " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_a_checkout_imports_the_cli_without_installing_and_without_a_web_stack() -> None:
    # -S: no site processing, so no installed (editable) mlpaint; the third-party packages are
    # added as plain folders, and mlpaint can only come from the checkout's plugin/. The folders
    # come from this process: under -S a venv's interpreter no longer knows it is in a venv.
    code = (
        f"import sys; sys.path += {site.getsitepackages()!r}; sys.path.insert(0, 'plugin'); "
        "import mlpaint.cli, mlpaint.trainclient, mlpaint.announcement; print(mlpaint.__file__); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(WEB_STACK)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    where, web = result.stdout.splitlines()
    assert Path(where) == PACKAGE / "__init__.py"
    assert web == "[]"


def test_training_off_a_terminal_prints_a_few_plain_progress_lines(
    small_db: Path, tmp_path: Path
) -> None:
    algorithm = "\n".join(
        f"{k} = {v!r}".replace("'", '"') for k, v in TINY_CONFIG["algorithm"].items()
    )
    config = tmp_path / "tiny.toml"
    config.write_text(f"[algorithm]\n{algorithm.replace('max_iter = 6', 'max_iter = 40')}\n")
    result = cli("train", "--db", str(small_db), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("training:")]
    assert 1 <= len(progress) <= 10, result.stderr
    assert progress[-1].startswith("training: 100% (80/80 rounds)")
