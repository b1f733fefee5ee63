"""Policy loading: every key, strict validation with file/line/key messages, digest."""

from datetime import timedelta
from pathlib import Path

import pytest

from tracestrata.errors import ConfigError
from tracestrata.policy.model import Period, Targets, WindowShare
from tracestrata.policy.parse import load_policy, parse_policy
from tracestrata.policy.signals import Operator

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "policies").glob("*.toml"))

FULL = """\
seed = "nightly"
description = "all keys"

[[strata]]
field = "metadata.intent"
top = 8
label = "intent"

[[strata]]
field = "latency_ms"
edges = [1000, 3000, 10000]

[[strata]]
field = "release"
values = ["v41", "v42"]

[targets]
default = 200
floor = 20
overrides = { "compliance | *" = 400, "billing | <1000 | v41" = 50 }

[failure]
multiplier = 4

[[failure.signals]]
name = "error"
field = "status"
equals = "error"

[[failure.signals]]
name = "slow"
field = "latency_ms"
ge = 10000

[[boost]]
name = "refund-loop"
field = "metadata.intent"
equals = "refund"
collect = 300
"""


def write(tmp_path, text, name="policy.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_policy_loads(path):
    policy = load_policy(path)
    assert policy.seed and len(policy.digest) == 64


def test_examples_exist():
    assert len(EXAMPLES) >= 2


def test_full_policy_parses_every_key(tmp_path):
    policy = load_policy(write(tmp_path, FULL))
    assert policy.seed == "nightly" and policy.description == "all keys"
    intent, latency, release = policy.strata
    assert (intent.field, intent.top, intent.label) == ("metadata.intent", 8, "intent")
    assert latency.edges == (1000.0, 3000.0, 10000.0)
    assert release.values == ("v41", "v42")
    assert policy.targets.default == 200 and policy.targets.floor == 20
    assert policy.multiplier == 4.0
    assert [s.name for s in policy.signals] == ["error", "slow"]
    assert policy.signals[1].condition.operator is Operator.GE
    assert policy.boosts[0].collect == 300
    assert policy.metadata_keys() == ("intent",)
    assert policy.dimensions == ("metadata.intent", "latency_ms", "release")


def test_targets_exact_then_pattern_then_default():
    targets = Targets(200, (("compliance | *", 400), ("compliance | <1000", 10), ("* | >=10000", 5)))
    assert targets.for_stratum("compliance | <1000") == 10
    assert targets.for_stratum("compliance | 1000–3000") == 400
    assert targets.for_stratum("billing | >=10000") == 5
    assert targets.for_stratum("billing | <1000") == 200
    assert Targets(10, (("a[b] | *", 3),)).for_stratum("a[b] | x") == 3  # no fnmatch classes


def test_digest_is_canonical_and_sensitive(tmp_path):
    a = load_policy(write(tmp_path, FULL, "a.toml"))
    b = load_policy(write(tmp_path, "# a comment\n" + FULL, "b.toml"))
    assert a.digest == b.digest
    c = load_policy(write(tmp_path, FULL.replace("multiplier = 4", "multiplier = 5"), "c.toml"))
    assert c.digest != a.digest


def test_defaults_and_inline_table():
    policy = parse_policy({"seed": "x"}, source="sync.toml [policy]")
    assert policy.strata == () and policy.targets.default == 200 and policy.multiplier == 1.0
    with pytest.raises(ConfigError) as info:
        parse_policy({"seed": "x", "bogus": 1}, source="sync.toml")
    assert str(info.value).startswith("sync.toml: bogus: unknown key")


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "expect"),
    [
        ('seed = "nightly"', "seed = 5", "seed", 1, "expected a non-empty string"),
        ("top = 8", "top = 8\nbogus = 1", "strata[0].bogus", 7, "unknown key"),
        ("top = 8", 'top = "8"', "strata[0].top", 6, "expected an integer"),
        ("edges = [1000, 3000, 10000]", "edges = [3000, 1000]", "strata[1].edges", 11, "increasing"),
        ("edges = [1000, 3000, 10000]", 'edges = ["a"]', "strata[1].edges", 11, "finite numbers"),
        ("default = 200", "default = -5", "targets.default", 18, "expected an integer >= 0"),
        ('"compliance | *" = 400', '"compliance | *" = -1', "targets.overrides.compliance | *", 20, ">= 0"),
        ("multiplier = 4", "multiplier = 0.5", "failure.multiplier", 23, "expected a number >= 1"),
        ('equals = "error"', 'matches = "error"', "failure.signals[0].matches", 28, "unknown key"),
        ("ge = 10000", 'ge = "slow"', "failure.signals[1].ge", 33, "expected a number"),
        ('field = "status"', 'field = "stauts"', "failure.signals[0].field", 27, "unknown field 'stauts'"),
        ("collect = 300", "collect = 0", "boost[0].collect", 39, "expected an integer >= 1"),
        ("default = 200", 'default = 200\nper = "hour"', "targets.per", 19, 'expected "window" or "day"'),
        ("top = 8", "top = 8\nedges = [1]", "strata[0].edges", 7, "only one of"),
        ('field = "release"', 'field = "metadata.intent"', "strata[2].field", 14, "already a dimension"),
    ],
)
def test_bad_policy_names_file_line_key_and_expectation(tmp_path, old, new, key, line, expect):
    assert old in FULL
    path = write(tmp_path, FULL.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    err = info.value
    assert err.field == key
    assert expect in err.message
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert str(err).startswith(f"{path}:{line}: {key}: ")
    assert "\n" not in str(err)


def test_signal_needs_exactly_one_operator(tmp_path):
    text = FULL.replace('equals = "error"', 'equals = "error"\nnot_equals = "ok"')
    with pytest.raises(ConfigError, match="exactly one operator") as info:
        load_policy(write(tmp_path, text))
    assert info.value.field == "failure.signals[0]" and info.value.line == 25


def test_missing_seed_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="seed"):
        load_policy(write(tmp_path, "[targets]\ndefault = 1\n"))
    with pytest.raises(ConfigError, match="no such file"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_policy(write(tmp_path, 'seed = "x"\n[targets\n'))
    assert info.value.line == 2


def test_operand_types(tmp_path):
    base = 'seed = "s"\n[[failure.signals]]\nname = "x"\nfield = "tags"\n'
    ok = {"in = ['a', 'b']": Operator.IN, "contains = 'a'": Operator.CONTAINS, "exists = true": Operator.EXISTS}
    for line, op in ok.items():
        assert load_policy(write(tmp_path, base + line + "\n")).signals[0].condition.operator is op
    for line in ("in = 'a'", "exists = 'yes'", "equals = [1]", "in = []"):
        with pytest.raises(ConfigError):
            load_policy(write(tmp_path, base + line + "\n"))


def test_targets_per_day_split_by_the_window_share_and_keep_the_default_digest():
    per_window = parse_policy({"seed": "x", "targets": {"default": 200}}, source="p")
    explicit = parse_policy({"seed": "x", "targets": {"default": 200, "per": "window"}}, source="p")
    daily = parse_policy({"seed": "x", "targets": {"default": 200, "per": "day"}}, source="p")
    assert explicit.digest == per_window.digest != daily.digest
    assert daily.targets.per is Period.DAY and daily.to_json()["targets"]["per"] == "day"
    assert per_window.for_window(WindowShare(20_000)) is per_window
    window = daily.for_window(WindowShare(20_000))
    assert window.digest == daily.digest  # the share is run time, not policy
    assert window.targets.for_window("a", 830) == 9  # ceil(200 * 830 / 20000) = ceil(8.3)
    assert window.targets.for_window("a", 1000) == 10
    assert window.targets.for_window("a", 50_000) == 200  # a window never takes more than the day's target
    assert window.targets.for_window("a", 20) == 4  # a quiet hour: 2 draws for each of its two cells
    tiny = parse_policy({"seed": "x", "targets": {"default": 3, "per": "day"}}, source="p")
    assert tiny.for_window(WindowShare(20_000)).targets.for_window("a", 20) == 3  # never above the target
    assert daily.targets.for_window("a", 830) == 200  # no share given: the target as it is
    assert daily.for_window(WindowShare(None, timedelta(hours=1))).targets.for_window("a", 5) == 9  # 200 / 24
