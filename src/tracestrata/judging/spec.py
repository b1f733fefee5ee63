"""One judge from its spec, as `--judge` and `[judge] judge` write it:

    module:function                   a Python function, sync or async (`callable.py`)
    phoenix-evals:module:evaluator    a phoenix.evals evaluator (`phoenix_evals.py`)
    path/to/judge.toml                an LLM judge over an OpenAI-compatible endpoint (`llm.py`),
                                      the file's keys (or its [llm] table) as in [judge.llm]
    llm                               the LLM judge of the sync config's [judge.llm] table
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tracestrata.errors import ConfigError
from tracestrata.io.tomlfile import read_toml
from tracestrata.judging.callable import function_judge
from tracestrata.judging.llm import LLMJudge, parse_llm_config
from tracestrata.judging.model import Judge
from tracestrata.judging.phoenix_evals import PREFIX, phoenix_evals_judge


def load_judge(
    spec: str,
    *,
    llm: Mapping[str, object] | None = None,  # [judge.llm] or a judge file's table, checked by parse_llm_config
    llm_source: str | None = None,
    workers: int = 8,
    timeout: float = 60.0,
    version: str | None = None,
    near: str | None = None,
) -> Judge:
    """The judge `spec` names; `near` (a sync config's folder) is searched for its module too."""
    spec = spec.strip()
    if spec.startswith(PREFIX):
        return phoenix_evals_judge(spec, version=version, near=near)
    if spec.endswith(".toml"):
        data, _ = read_toml(spec, what="judge file")
        table = data.get("llm", data)
        if not isinstance(table, Mapping):
            raise ConfigError("expected an [llm] table", path=spec, field="llm")
        return LLMJudge(parse_llm_config(table, path=str(Path(spec))), timeout=timeout, source=spec)
    if spec == "llm":
        if llm is None:
            raise ConfigError("judge = \"llm\" needs a [judge.llm] table (base_url, model, prompt, labels)", path=llm_source, field="judge.llm")
        return LLMJudge(parse_llm_config(llm, path=llm_source, prefix="judge.llm."), timeout=timeout)
    return function_judge(spec, version=version, workers=workers, near=near)


__all__ = ["load_judge"]
