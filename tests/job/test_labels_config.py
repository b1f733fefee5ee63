"""`[[label]]` in the sync config: what reviewers set, checked with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracestrata.errors import ConfigError
from tracestrata.job.config import load_config
from tracestrata.protocols import LabelKind

HEAD = """
state = "s.sqlite"
[source]
type = "files"
path = "t.jsonl"
[window]
start = "2026-11-23T00:00:00Z"
[scores]
names = ["correct"]
[policy]
seed = "x"
strata = [{ field = "metadata.intent" }]
[policy.targets]
default = 5
"""


def _load(tmp_path: Path, labels: str, report: str = ""):
    path = tmp_path / "sync.toml"
    path.write_text(HEAD + report + labels)
    return load_config(path)


def test_labels_are_read_back_and_reported(tmp_path: Path) -> None:
    config = _load(tmp_path, """
[[label]]
name = "correct_human"
judge = "correct"
[[label]]
name = "verdict_human"
kind = "categorical"
values = { pass = 1, fail = 0 }
[[label]]
name = "quality_human"
kind = "continuous"
min = 1
max = 5
""", report='[report]\nmetrics = ["correct", "correct_human"]\n')
    assert [label.kind for label in config.labels] == [LabelKind.BOOLEAN, LabelKind.CATEGORICAL, LabelKind.CONTINUOUS]
    assert config.labels[1].values == (("pass", 1.0), ("fail", 0.0))
    assert (config.labels[2].lower, config.labels[2].upper) == (1.0, 5.0)
    assert config.score_names == ("correct", "correct_human", "verdict_human", "quality_human")
    assert config.label_judges == {"correct_human": "correct"}
    assert config.report_metrics == ("correct", "correct_human")


@pytest.mark.parametrize(("labels", "message", "field"), [
    ('[[label]]\nname = "v"\nkind = "categorical"\n', "lists its values", "label.0.values"),
    ('[[label]]\nname = "q"\nkind = "continuous"\nmin = 5\nmax = 1\n', "min < max", "label.0.max"),
    ('[[label]]\nname = "b"\nmin = 1\n', "only a continuous label has bounds", "label.0.min"),
    ('[[label]]\nname = "a"\n[[label]]\nname = "a"\n', "declared twice", "label.1.name"),
    ('[[label]]\nname = "a"\nkind = "stars"\n', "", "label.0.kind"),
])
def test_a_bad_label_is_one_line_naming_the_key(tmp_path: Path, labels: str, message: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, labels)
    assert message in str(info.value) and info.value.field == field, str(info.value)
    assert info.value.line is not None
