"""Package-level guarantees: the core stays pure, the public API is explicit, the CLI seam holds."""

import ast
import pathlib
import subprocess
import sys

import tracestrata

CORE = pathlib.Path(tracestrata.__file__).parent
FORBIDDEN = {"langfuse", "phoenix", "httpx", "requests", "pandas", "pyarrow", "opentelemetry", "vcr", "duckdb", "pyspark", "polars"}
# Where a backend SDK or a dataframe library may be imported (lazily: importing the package loads none of them).
EDGES = ("connectors/", "sampling/frames.py", "spark", "demo/", "judging/phoenix_evals.py")  # adapters to an SDK


def is_core(path: pathlib.Path) -> bool:
    rel = path.relative_to(CORE).as_posix()
    return not rel.startswith(EDGES)


def imported_roots(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_no_backend_sdk_or_dataframe_library():
    offenders = {
        str(path.relative_to(CORE)): sorted(imported_roots(path) & FORBIDDEN)
        for path in CORE.rglob("*.py")
        if is_core(path) and imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_importing_the_core_loads_no_sdk():
    code = (
        "import sys, tracestrata, tracestrata.cli.main;"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_api_is_sorted_and_complete():
    assert tracestrata.__all__ == sorted(tracestrata.__all__)
    for name in tracestrata.__all__:
        assert hasattr(tracestrata, name), name
