"""Record vcrpy cassettes of the connector contract suite against a real Langfuse.

    export LANGFUSE_BASE_URL=https://cloud.langfuse.com   # or your self-hosted URL
    export LANGFUSE_PUBLIC_KEY=pk-lf-...  LANGFUSE_SECRET_KEY=sk-lf-...   # a throwaway project
    python scripts/record_langfuse_cassettes.py [--out cassettes/langfuse]

Runs `tests/connectors/langfuse/test_langfuse_live.py` with
`TRACESTRATA_RECORD_CASSETTES` pointing at the output folder; every request and
response is written to `<test>.yaml` with the `Authorization`, `X-Langfuse-Public-Key`
and cookie headers removed. The script then scans the cassettes and refuses to keep
any file that still contains either key.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIVE_TESTS = REPO / "tests" / "connectors" / "langfuse" / "test_langfuse_live.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "cassettes" / "langfuse")
    args = parser.parse_args()
    missing = [n for n in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY") if not os.environ.get(n)]
    if not (os.environ.get("LANGFUSE_BASE_URL") or os.environ.get("LANGFUSE_HOST")):
        missing.insert(0, "LANGFUSE_BASE_URL")
    if missing:
        print(f"record_langfuse_cassettes: set {', '.join(missing)} (a real Langfuse project)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TRACESTRATA_RECORD_CASSETTES=str(args.out.resolve()))
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-ra", str(LIVE_TESTS)], env=env, cwd=REPO)
    secrets = [os.environ["LANGFUSE_PUBLIC_KEY"], os.environ["LANGFUSE_SECRET_KEY"]]
    leaked = [p for p in args.out.glob("*.yaml") if any(s in p.read_text(errors="replace") for s in secrets)]
    for path in leaked:
        path.unlink()
        print(f"record_langfuse_cassettes: removed {path.name}: it still contained a key", file=sys.stderr)
    return 1 if leaked else code


if __name__ == "__main__":
    sys.exit(main())
