"""The README documents every command, every policy key and every exit code (sqlite-utils style)."""

import pathlib
import re

import pytest

from tracestrata.cli.main import COMMANDS
from tracestrata.errors import ExitCode
from tracestrata.policy import parse as policy
from tracestrata.policy.signals import OPERATORS

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_readme(name):
    assert f"tracestrata {name}" in README


KEYS = (
    [f"`{k}`" for k in policy.TOP_KEYS if k not in ("strata", "targets", "failure", "boost")]
    + [f"strata[].{k}" for k in policy.STRATA_KEYS]
    + [f"targets.{k}" for k in policy.TARGET_KEYS]
    + [f"failure.{k}" for k in policy.FAILURE_KEYS if k != "signals"]
    + [f"failure.signals[].{k}" for k in ("name", "field")]
    + [f"boost[].{k}" for k in ("name", "field", "collect")]
    + [f"`{op}`" for op in OPERATORS]
)


@pytest.mark.parametrize("key", KEYS)
def test_every_policy_key_is_in_the_readme(key):
    assert key in README


def test_every_exit_code_is_in_the_readme():
    table = {int(m.group(1)) for m in re.finditer(r"^\| (\d) \|", README, re.M)}
    assert table >= {int(code) for code in ExitCode}


def test_the_two_setup_commands_exist_and_ci_runs_the_test_one():
    assert "make demo" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_make_demo_installs_only_the_demo_extra():
    """`make demo` must not pull the dev extra (Spark, DuckDB, test tools): about 1 GB instead of 1.9 GB."""
    makefile = (ROOT / "Makefile").read_text()
    demo_deps = re.search(r"^demo: (.+)$", makefile, re.M).group(1)
    stamp = demo_deps.split()[0]
    recipe = makefile.split(stamp + ":", 1)[1].split("\n\n", 1)[0]
    assert "'.[demo]'" in recipe and "dev" not in recipe


def test_linked_docs_exist():
    for target in re.findall(r"\]\((docs/[^)#]+)\)", README):
        assert (ROOT / target).exists(), target
