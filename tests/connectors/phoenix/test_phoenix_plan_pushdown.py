"""`tracestrata plan --config` on a real Phoenix: GraphQL counts, no spans pulled, same numbers."""

from __future__ import annotations

import json
from collections import Counter

from tracestrata.cli.main import main
from tracestrata.record import format_timestamp

CONFIG = """\
state = "state.sqlite"
[source]
type = "phoenix"
base_url = "{base_url}"
project = "{project}"
[window]
every = "1d"
start = "2020-01-01T00:00:00Z"
[policy]
seed = "plan"
[[policy.strata]]
field = "metadata.intent"
values = ["billing", "compliance", "tech"]
[policy.targets]
default = 50
"""


def test_listed_values_are_counted_by_phoenix(phoenix_server, tmp_path, capsys):
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG.format(base_url=phoenix_server.base_url, project=phoenix_server.project))
    window = phoenix_server.window
    code = main(["plan", "--config", str(config), "--since", format_timestamp(window.start),
                 "--until", format_timestamp(window.end), "--rate", "0.1", "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "no traces pulled" in out.err
    got = {s["stratum"]: s["population"] for s in json.loads(out.out)["strata"]}
    intents = Counter(r.metadata["intent"] for r in phoenix_server.records)
    want = {k: intents[k] for k in ("billing", "compliance", "tech") if intents[k]}
    rest = sum(intents.values()) - sum(want.values())
    assert got == {**want, "(other)": rest}
