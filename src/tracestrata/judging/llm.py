"""An LLM judge over any OpenAI-compatible chat endpoint, with the official `openai` client.

Configured in TOML (`[judge.llm]` of sync.toml, or a file given as `--judge judge.toml`):

    base_url = "http://127.0.0.1:8000/v1"
    model = "gpt-4o-mini"
    api_key_env = "OPENAI_API_KEY"          # the *name* of the variable; the key is never printed
    temperature = 0.0
    prompt = '''Is the answer correct? Reply with one word: correct or incorrect.
    Question: {input}
    Answer: {output}
    Intent: {metadata.intent}'''
    [labels]                                # allowed labels -> the score's value
    correct = true
    incorrect = false

The answer is read as JSON `{"label": ..., "reason": ...}` when it is one, else its
first word must be one of the labels (case-insensitive) and the rest is the reason.
A 429 (its `Retry-After` honoured), a timeout, a dropped connection, a 5xx or an
answer naming no label raises `JudgeCallError`, which the runner retries.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracestrata.errors import AuthError, ConfigError, JudgeCallError
from tracestrata.judging.model import JudgeAnswer, JudgeInput, JudgeVerdict, OwnJudgeFailure
from tracestrata.record import JSONValue
from tracestrata.redaction import register_secret

_PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
_FIXED = ("input", "output", "trace_id", "stratum")


class JudgeRefused(OwnJudgeFailure):
    """The endpoint refused one call for good (a 4xx other than 401/403/429): that trace fails, unretried."""


class LLMJudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None  # None: the client's default (OPENAI_BASE_URL, else api.openai.com)
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    prompt: str
    labels: dict[str, bool | float | str] = Field(min_length=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    system: str | None = None
    name: str | None = None  # the judge's name (Phoenix identifier); default llm:<model>
    version: str | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        for name in _PLACEHOLDER.findall(value):
            if name not in _FIXED and not (name.startswith("metadata.") and len(name) > len("metadata.")):
                raise ValueError(
                    f"unknown placeholder {{{name}}}: use {{input}}, {{output}}, {{trace_id}}, {{stratum}} or "
                    "{metadata.KEY} (write {{ and }} for literal braces)"
                )
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("expected the name of an environment variable")
        return value


def parse_llm_config(data: Mapping[str, object], *, path: str | None = None, prefix: str = "") -> LLMJudgeConfig:
    for key in data:
        if key in ("api_key", "key", "token", "secret"):
            raise ConfigError(
                "secrets do not belong in a file: put the key in an environment variable and set "
                'api_key_env = "VAR_NAME"',
                path=path,
                field=prefix + key,
            )
    try:
        return LLMJudgeConfig.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = prefix + ".".join(str(p) for p in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(message, path=path, field=key or None) from None


def render_prompt(template: str, judge_input: JudgeInput) -> str:
    """The template with `{input}`, `{output}`, `{trace_id}`, `{stratum}`, `{metadata.KEY}` filled
    (non-text as JSON; a missing metadata key as empty), `{{`/`}}` as literal braces."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("metadata."):
            value: JSONValue = judge_input.metadata.get(name[len("metadata."):], "")
        else:
            value = getattr(judge_input, name)  # one of _FIXED, checked when the config loaded
        return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)

    return _PLACEHOLDER.sub(fill, template).replace("{{", "{").replace("}}", "}")


def parse_answer(content: str | None, labels: Mapping[str, bool | float | str]) -> JudgeVerdict:
    """The verdict in the model's answer; `JudgeCallError` when it names no allowed label."""
    text = (content or "").strip()
    by_lower = {label.lower(): label for label in labels}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("label"), str) and data["label"].strip().lower() in by_lower:
            label = by_lower[data["label"].strip().lower()]
            reason = data.get("reason", data.get("explanation"))
            return JudgeVerdict(labels[label], label=label, reason=None if reason is None else str(reason))
    first, _, rest = text.partition("\n") if "\n" in text else text.partition(" ")
    word = first.strip().strip(".,:;!*\"'`").lower()
    if word in by_lower:
        label = by_lower[word]
        return JudgeVerdict(labels[label], label=label, reason=rest.strip() or None)
    # the answer itself is not shown: it may quote the trace, and bodies never reach a log
    raise JudgeCallError(f"the judge's answer ({len(text)} characters) names none of {', '.join(labels)}")


class LLMJudge:
    def __init__(self, config: LLMJudgeConfig, *, timeout: float = 60.0, source: str | None = None) -> None:
        try:
            import openai
        except ImportError:
            raise ConfigError("the LLM judge needs the openai client: pip install 'tracestrata[judge]'") from None
        key = os.environ.get(config.api_key_env)
        if not key:
            raise ConfigError(
                f"environment variable {config.api_key_env} is not set (it should hold the judge's API key)",
                path=source,
                field="api_key_env" if source else "judge.llm.api_key_env",
            )
        register_secret(key)  # hidden in every line, whatever its variable is called
        self.config = config
        self.name = config.name or f"llm:{config.model}"
        self.version = config.version
        self._openai = openai
        # retries are the runner's (the job's [retry]), so the client makes one attempt per call
        self.client = openai.AsyncOpenAI(base_url=config.base_url, api_key=key, max_retries=0, timeout=timeout)

    async def __call__(self, judge_input: JudgeInput) -> JudgeAnswer:
        openai = self._openai
        messages: list[dict[str, str]] = []
        if self.config.system:
            messages.append({"role": "system", "content": self.config.system})
        messages.append({"role": "user", "content": render_prompt(self.config.prompt, judge_input)})
        extra: dict[str, int] = {"max_tokens": self.config.max_tokens} if self.config.max_tokens else {}
        try:
            response = await self.client.chat.completions.create(
                model=self.config.model, messages=messages, temperature=self.config.temperature, **extra  # type: ignore[arg-type]
            )
        except openai.RateLimitError as exc:
            raise JudgeCallError("the judge endpoint is rate limiting (HTTP 429)", retry_after=_retry_after(exc.response)) from None
        except openai.APITimeoutError:
            raise JudgeCallError("the judge call timed out") from None
        except openai.APIConnectionError as exc:
            raise JudgeCallError(f"cannot reach the judge endpoint ({type(exc.__cause__ or exc).__name__})") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise AuthError(
                f"the judge endpoint refused the key (HTTP {exc.status_code}): check {self.config.api_key_env}"
            ) from None
        except openai.InternalServerError as exc:
            raise JudgeCallError(f"the judge endpoint failed (HTTP {exc.status_code})") from None
        except openai.APIStatusError as exc:  # e.g. 400: not retried; the server's text may quote the prompt
            raise JudgeRefused(f"the judge endpoint refused the call (HTTP {exc.status_code})") from None
        choices = response.choices or []
        content = choices[0].message.content if choices else None
        usage = response.usage
        tokens = int(usage.total_tokens or 0) if usage is not None else 0
        return JudgeAnswer((parse_answer(content, self.config.labels),), tokens=tokens)

    async def aclose(self) -> None:
        await self.client.close()


class _Response(Protocol):
    """The HTTP response an `openai` error carries (an httpx response)."""

    headers: Mapping[str, str]


def _retry_after(response: _Response) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, ValueError):
        return None


__all__ = ["LLMJudge", "LLMJudgeConfig", "parse_answer", "parse_llm_config", "render_prompt"]
