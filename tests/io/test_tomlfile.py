import pytest

from tracestrata.errors import ConfigError
from tracestrata.io.tomlfile import key_line, key_path, read_toml

TEXT = """\
seed = "x"
[[strata]]
field = "a"
[[strata]]
field = "b"
edges = [3, 1]
[failure]
multiplier = 4
[[failure.signals]]
name = "e"
equals = "error"
"""


@pytest.mark.parametrize(
    ("key", "line"),
    [("seed", 1), ("strata[1].edges", 6), ("strata[0].field", 3), ("failure.multiplier", 8),
     ("failure.signals[0].equals", 11), ("failure", 7), ("strata[5].field", None)],
)
def test_key_line(key, line):
    assert key_line(TEXT.splitlines(), key) == line


def test_key_path_from_locations():
    assert key_path(("strata", 1, "edges")) == "strata[1].edges"
    assert key_path(["window", "every"]) == "window.every"


def test_read_toml_errors_are_one_line_with_the_line(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('a = 1\nb = = 2\n')
    with pytest.raises(ConfigError) as err:
        read_toml(bad)
    assert err.value.line == 2 and str(err.value).startswith(f"{bad}:2: not valid TOML")
