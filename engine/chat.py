"""Chat generation with an instruct model, for text that is not a fill-in-the-middle completion.

The language server's hint mode asks an instruct model for a question, not
for code. Any instruct model works because the prompt is built by the
tokenizer's own chat template (`apply_chat_template`): the bundled
Qwen2.5-Coder-Instruct (`<|im_start|>` turns), CodeGemma-7B-it
(`<start_of_turn>` turns, no system role), and so on. Generation is the same
decode loop completions use (`engine.generation.generate`), so cancelling,
stop tokens and timing behave the same, and the last prompt's KV cache is
kept: hint chats share a long start (instructions, worked examples).

A chat model need not have FIM sentinels, so loading does not go through
`engine.loading.load_model`'s format check; it resolves the model source the
same way (bundled, directory, .gguf, hub id).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from engine.backend import CancelToken
from engine.defaults import MAX_TOKENS
from engine.errors import EngineError
from engine.generation import Generated, Sampling, generate
from engine.prompt_cache import DEFAULT_PROMPT_CACHE_MB, PromptCache
from fim.postprocess import CompletionFilter, StopStrings

log = logging.getLogger(__name__)

#: End-of-turn markers of common chat formats. They are stopped on as text
#: too, in case a model's eos is a different token than the one its template ends turns with.
END_OF_TURN = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>", "<|EOT|>", "<|end|>")

Message = Mapping[str, str]
#: The one prompt-cache entry of a chat model (its chats share one long start).
CHAT_KEY = "chat"


def chat_stop_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """Token ids that end a reply: eos, the generation config's eos ids, and end-of-turn markers."""
    ids: set[int] = set()
    if isinstance(tokenizer.eos_token_id, int):
        ids.add(tokenizer.eos_token_id)
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[marker] for marker in END_OF_TURN if marker in vocab)
    return frozenset(ids)


@dataclass
class ChatModel:
    """An instruct model and its tokenizer, answering one chat at a time per call."""

    model: Any
    tokenizer: Any
    #: What was asked for (`bundled`, a hub id, a path), for logs.
    name: str
    stop_ids: frozenset[int] = frozenset()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: The last prompt's KV cache: chats share their long start (system text, worked examples).
    _pool: PromptCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not getattr(self.tokenizer, "chat_template", None):
            raise EngineError(
                f"{self.name} has no chat template, so it is not an instruct model; "
                "pass an instruct model for hints (e.g. --hint-model google/codegemma-7b-it)"
            )
        if not self.stop_ids:
            self.stop_ids = chat_stop_ids(self.tokenizer, self.model)
        from transformers import DynamicCache

        self._pool = PromptCache(lambda: DynamicCache(config=self.model.config), DEFAULT_PROMPT_CACHE_MB * 2**20)

    @classmethod
    def from_loaded(cls, lm: Any) -> ChatModel:
        """Share the weights of an `engine.loading.LoadedModel` (one model serves FIM and chat)."""
        return cls(model=lm.model, tokenizer=lm.tokenizer, name=lm.name)

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text for `messages`, ending where the assistant's reply begins.

        Templates without a system role (Gemma's) get the system text at the
        start of the first user turn instead.
        """
        try:
            return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # jinja raises TemplateError for "System role not supported"
            if not messages or messages[0].get("role") != "system":
                raise EngineError(f"{self.name}'s chat template failed: {exc}") from None
        system, rest = messages[0], list(messages[1:])
        if rest and rest[0].get("role") == "user":
            rest[0] = {"role": "user", "content": f"{system['content']}\n\n{rest[0]['content']}"}
        else:
            rest.insert(0, {"role": "user", "content": system["content"]})
        return self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)

    def reply(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = MAX_TOKENS,
        sampling: Sampling = Sampling(),
        cancel: CancelToken | None = None,
        stop: tuple[str, ...] = (),
    ) -> Generated:
        """Generate the assistant's next turn. Blocks; run it in a worker thread."""
        # The template already holds bos where the model wants it.
        ids = self.tokenizer.encode(self.render(messages), add_special_tokens=False)
        text_filter = CompletionFilter([StopStrings((*END_OF_TURN, *stop))])
        while not self._lock.acquire(timeout=0.05):
            if cancel is not None and cancel.cancelled:
                return Generated("", "cancelled", "none", None, len(ids), 0, 0, 0.0, 0.0)
        try:
            cache, reused = self._pool.checkout(CHAT_KEY, ids)
            result = generate(
                self.model,
                lambda out: self.tokenizer.decode(out, skip_special_tokens=False),
                ids,
                cache=cache,
                cached_tokens=reused,
                max_tokens=max_tokens,
                stop_ids=self.stop_ids,
                text_filter=text_filter,
                sampling=sampling,
                cancel=cancel,
            )
            # Keep the prompt, not the reply: the next chat shares the prompt's start. (After an
            # error the cache may be half-written, so it is not kept.)
            self._pool.checkin(CHAT_KEY, ids[: min(cache.get_seq_length(), len(ids))], cache)
        finally:
            self._lock.release()
        log.debug("chat reply: %d prompt tokens (%d cached) in %.0f ms, %d generated in %.0f ms, %s",
                  result.prompt_tokens, result.cached_tokens, result.prompt_ms, result.generated_tokens,
                  result.generate_ms, result.finish_reason)  # fmt: skip
        return result


def load_chat_model(spec: str | None = None, *, dtype: str = "float32", device: str = "cpu") -> ChatModel:
    """Load an instruct model: None/"bundled", a Hugging Face id, a model directory or a .gguf file."""
    from engine.loading import BUNDLED, in_passing_thread, load_weights

    started = time.perf_counter()
    kind, _, tokenizer, model = in_passing_thread(load_weights, spec, dtype=dtype, device=device)
    chat = ChatModel(model=model, tokenizer=tokenizer, name=spec or BUNDLED)
    log.info("loaded chat model %s (%s) in %.1f s", chat.name, kind, time.perf_counter() - started)
    return chat
