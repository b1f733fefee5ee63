"""The module paths the docs name exist: a module that moves (the policy package, the job's
steps, `columns`) leaves no stale path in the design map, the library examples or the README."""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FILE = re.compile(r"(?<![\w./-])((?:[a-z_]+/)+[a-z_0-9]+\.py)\b")
_MODULE = re.compile(r"\b(?:from|import) (tracestrata(?:\.[a-z_0-9]+)+)")


def _named(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return sorted({(doc.name, m.group(1)) for doc in DOCS for m in pattern.finditer(doc.read_text())})


def _exists(path: str) -> bool:
    bases = (ROOT, ROOT / "src", ROOT / "src" / "tracestrata", ROOT / "tests")
    return any((base / path).is_file() for base in bases)


@pytest.mark.parametrize(("doc", "path"), _named(_FILE))
def test_every_source_file_a_doc_names_exists(doc, path):
    assert _exists(path), f"{doc} names {path}, which is not in the repository"


@pytest.mark.parametrize(("doc", "module"), _named(_MODULE))
def test_every_module_a_doc_imports_exists(doc, module):
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its package is gone too
        found = False
    assert found, f"{doc} imports {module}, which does not exist"
