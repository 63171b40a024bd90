"""Our own wire types on top of LSP, shared by the server, its tests and the editor clients.

Standard messages use `lsprotocol.types`. What is ours lives here: the
settings object (sent as `initializationOptions` and under the "codegemma"
key of `workspace/didChangeConfiguration`), the results of the custom
requests `codegemma/stats` and `codegemma/prompt`, and the command names.
Settings keys are snake_case, exactly the `codegemma lsp` flag names
without the dashes, so a user reads one list of options for every editor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from engine.defaults import CONTEXT_TOKENS, MAX_TOKENS, MAX_TOKENS_LIMIT
from lsp.errors import LspError

#: Custom request: telemetry counters, no params.
STATS_METHOD = "codegemma/stats"
#: Custom notification from our clients: the cursor moved (TextDocumentPositionParams), so the prompt there is warmed.
CURSOR_METHOD = "codegemma/cursor"
#: Custom request: what the model would be shown at a position (TextDocumentPositionParams).
PROMPT_METHOD = "codegemma/prompt"
#: Command: a fuller hint for the function at a position, shown with window/showMessage.
HINT_COMMAND = "codegemma.hint"
#: Command attached to every inline item: the client runs it when the user accepts the item.
ACCEPTED_COMMAND = "codegemma.accepted"
#: Custom notification from our clients: what became of a shown item (params: `SuggestionEvent`).
EVENT_METHOD = "codegemma/event"
#: Kinds of `SuggestionEvent`.
EVENT_KINDS = ("accepted", "partial", "dismissed", "typed_over")
#: Key of our settings in `workspace/didChangeConfiguration` and `workspace/configuration`.
SETTINGS_SECTION = "codegemma"

BACKENDS = ("local", "http", "llama.cpp", "openai", "ollama")
MODES = ("complete", "hint")
#: Hard caps, so a typo such as 1e9 cannot tie the model up.
CONTEXT_TOKENS_LIMIT = 131072
DEBOUNCE_LIMIT_MS = 10000
ALTERNATIVES_LIMIT = 8


@dataclass(frozen=True)
class SuggestionEvent:
    """Params of `codegemma/event`: the fate of one shown inline item, reported by the client.

    `item` is the id the server put in the item's `codegemma.accepted` command arguments.
    `accepted` is the text the user kept: the whole item for "accepted", the
    accepted words or lines for "partial", "" for "dismissed" and "typed_over".
    `typed` is what the user typed instead, for "typed_over" (may be "").
    """

    item: str
    kind: str
    accepted: str = ""
    typed: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "SuggestionEvent":
        if not isinstance(params, Mapping):
            raise LspError("codegemma/event params must be an object")
        item, kind = params.get("item"), params.get("kind")
        if not isinstance(item, str) or not item:
            raise LspError("codegemma/event needs 'item', the id of a shown item")
        if kind not in EVENT_KINDS:
            raise LspError(f"codegemma/event 'kind' must be one of {', '.join(EVENT_KINDS)}, not {kind!r}")
        texts = {}
        for name in ("accepted", "typed"):
            value = params.get(name, "")
            if not isinstance(value, str):
                raise LspError(f"codegemma/event '{name}' must be a string")
            texts[name] = value
        return cls(item=item, kind=kind, **texts)


@dataclass(frozen=True)
class Settings:
    """Everything a client may configure; every field is also a `codegemma lsp` flag."""

    #: Where completions come from: "local" (this process) or a server kind.
    backend: str = "local"
    #: Server URL for non-local backends (each kind has a default port on 127.0.0.1).
    url: str | None = None
    #: Bearer token for the http and openai backends.
    api_key: str | None = None
    #: Local: HF id, model directory or .gguf (None: the bundled model). openai/ollama: the model name.
    model: str | None = None
    #: Directory of a peft LoRA adapter for the local model.
    adapter: str | None = None
    #: Force a FIM prompt format instead of detecting it from the tokenizer.
    fim_format: str | None = None
    #: Token budget for the text around the cursor plus other open files.
    context_tokens: int = CONTEXT_TOKENS
    #: Most tokens one completion may generate.
    max_tokens: int = MAX_TOKENS
    #: "complete" writes code; "hint" writes guiding questions as comments, never code.
    mode: str = "complete"
    #: Instruct model for hints (None: the bundled model); HF id, directory or .gguf.
    hint_model: str | None = None
    #: Wait this long after a request before starting it; a newer request in the meantime wins.
    debounce_ms: int = 0
    #: Read the prompt at the cursor into the backend's cache before the editor asks (on open, typing pauses,
    #: cursor moves to another line), so completions start sooner.
    prefetch: bool = True
    #: On a manual trigger, up to this many distinct suggestions (the first is the greedy one, the others sampled
    #: with distinct seeds); automatic triggers always get one.
    alternatives: int = 3
    #: Keep a local log of every suggestion shown and its fate (accepted, partial, dismissed, typed over, retained
    #: 30 s later), secrets removed, under the cache directory; never sent anywhere (see lsp.feedback).
    feedback_log: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise LspError(f"setting backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.mode not in MODES:
            raise LspError(f"setting mode: {self.mode!r} is not one of {', '.join(MODES)}")
        for name, low, high in (("context_tokens", 1, CONTEXT_TOKENS_LIMIT), ("max_tokens", 1, MAX_TOKENS_LIMIT),
                                ("debounce_ms", 0, DEBOUNCE_LIMIT_MS),
                                ("alternatives", 1, ALTERNATIVES_LIMIT)):  # fmt: skip
            value = getattr(self, name)
            if not low <= value <= high:
                raise LspError(f"setting {name}: {value} is outside {low}..{high}")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise LspError(f"setting url: {self.url!r} must start with http:// or https://")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def updated(self, changes: Mapping[str, Any] | None) -> Settings:
        """These settings with a client's JSON object applied on top.

        Null or empty strings mean "the default". Unknown keys are left to
        `unknown_keys`, so a newer client does not break an older server.
        """
        if not changes:
            return self
        if not isinstance(changes, Mapping):
            raise LspError(f"settings must be a JSON object, not {type(changes).__name__}")
        defaults = Settings()
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name not in changes:
                continue
            raw = changes[f.name]
            default = getattr(defaults, f.name)
            if raw is None or raw == "":
                values[f.name] = default
            elif isinstance(default, bool):
                values[f.name] = _as_bool(f.name, raw)
            elif isinstance(default, int):
                values[f.name] = _as_int(f.name, raw)
            elif isinstance(raw, str):
                values[f.name] = raw.strip()
            else:
                raise LspError(f"setting {f.name}: expected a string, got {raw!r}")
        return replace(self, **values)

    @classmethod
    def unknown_keys(cls, changes: Mapping[str, Any] | None) -> list[str]:
        known = set(cls.names())
        return sorted(k for k in (changes or {}) if k not in known)

    def to_json(self) -> dict[str, Any]:
        """The settings as a client would send them (with the API key masked, for logs)."""
        out = asdict(self)
        if out["api_key"]:
            out["api_key"] = "***"
        return out


def _as_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise LspError(f"setting {name}: expected true or false, got {raw!r}")


def _as_int(name: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise LspError(f"setting {name}: expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise LspError(f"setting {name}: expected a whole number, got {raw!r}")


def plain_json(value: Any) -> Any:
    """Plain JSON values from what pygls hands over for methods it does not know (nested namedtuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain_json(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    return value


def settings_section(payload: Any) -> Mapping[str, Any] | None:
    """Our settings object inside a didChangeConfiguration `settings` payload, if it is there."""
    if isinstance(payload, Mapping):
        section = payload.get(SETTINGS_SECTION)
        if isinstance(section, Mapping):
            return section
    return None


@dataclass(frozen=True)
class Stats:
    """Result of `codegemma/stats`. Counters live in memory only; nothing leaves the machine."""

    #: Inline/fallback items returned with text in them.
    shown: int = 0
    #: Items the user accepted (the client ran `codegemma.accepted`).
    accepted: int = 0
    #: Completion and hint requests received.
    requests: int = 0
    #: Requests that ended because they were superseded, cancelled by the client, or shut down.
    cancelled: int = 0
    #: Median time from receiving a request to answering it, over the recent answered ones.
    median_latency_ms: float = 0.0
    #: Extras for diagnosis (clients may ignore them):
    #: model calls running right now in worker threads,
    running: int = 0
    #: model calls that stopped generating because their request was cancelled,
    stopped_early: int = 0
    #: and the median duration of the bare backend call, to tell our overhead from the model's time.
    median_backend_ms: float = 0.0
    #: From `codegemma/event`: items partly accepted (a word or line at a time; once per item),
    partial: int = 0
    #: characters the user kept from full and partial accepts,
    kept_chars: int = 0
    #: items dismissed, items the user typed over,
    dismissed: int = 0
    typed_over: int = 0
    #: and events ignored (unreadable params or an id this server never showed, or forgot).
    ignored_events: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stats:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class ContextView:
    path: str
    content: str


@dataclass(frozen=True)
class PromptView:
    """Result of `codegemma/prompt`: the text the backend gets, before it is cut to the token budget."""

    path: str | None
    #: Grammar name (`python`, `tsx`, ...) or None when we have no grammar for the file.
    language: str | None
    prefix: str
    suffix: str
    #: Other open files, least relevant first.
    context: list[ContextView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptView:
        context = [ContextView(**c) for c in data.get("context") or []]
        return cls(path=data.get("path"), language=data.get("language"), prefix=data["prefix"],
                   suffix=data["suffix"], context=context)  # fmt: skip


@dataclass(frozen=True)
class HintResult:
    """Result of the `codegemma.hint` command (also shown with window/showMessage)."""

    hint: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
