import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parents[1])
for folder in (TESTS, str(Path(__file__).resolve().parent)):
    if folder not in sys.path:
        sys.path.insert(0, folder)

from fixtures.openai_stub import OpenAIStub  # noqa: E402


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    """An OpenAI-compatible endpoint on 127.0.0.1, and a made-up key for it in the environment."""
    monkeypatch.setenv("STUB_JUDGE_KEY", "-".join(("stub", "judge", "value")))
    with OpenAIStub() as server:
        yield server
