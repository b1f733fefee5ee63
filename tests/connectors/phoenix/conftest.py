import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[2])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from fixtures.phoenix_server import phoenix_auth_server, phoenix_server  # noqa: E402,F401
