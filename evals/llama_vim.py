"""Editor replay driver: llama.cpp's `/infill` driven the way llama.vim drives it.

Re-implemented from reading llama.vim's request loop (ggml-org/llama.vim,
autoload/llama.vim), with its defaults:

- on every cursor move in insert mode (each key typed) it first shows what
  its client-side cache holds for the new position (an exact hit, or a
  completion asked up to 128 characters earlier whose start the user has
  typed since), then asks the server, unless the cache already answers or
  more than 8 characters follow the cursor on its line;
- one request at a time: while one is in flight, a new one waits on a 100 ms
  timer that restarts with every move, and the old one runs to its end;
- the request: 256 lines before the cursor line as `input_prefix`, the rest
  of that line and 64 lines after as `input_suffix`, the cursor line up to
  the cursor as `prompt` (a blank line starts from column 0), `n_predict`
  128, `n_indent`, `top_k` 40, `top_p` 0.9, `cache_prompt`, `id_slot` 0,
  `t_max_prompt_ms` 500, `t_max_predict_ms` 250 for a first request and 1000
  for a speculative one; every answer goes into a 250-entry LRU cache under
  the hashes of its context (also with up to 3 leading prefix lines cut);
- after showing a suggestion it asks at once, in the background, for the
  completion that would follow it (the context as if it were accepted);
- a ring buffer of up to 16 chunks of up to 32 lines (`input_extra`): picked
  near the cursor when a file is entered, and beyond the prefix and suffix
  windows when the cursor moved more than 32 lines; chunks more than 0.9
  similar are evicted (0.5 for chunks near the cursor when it asks); every
  second, in normal mode or after 3 s without a move, one queued chunk joins
  the ring and an `n_predict: 0` request sends the ring to warm the cache;
- a suggestion is dropped when it is blank, repeats the rest of the line, or
  repeats the next line.

Run the server as llama.vim's README suggests, with `--cache-reuse 256`.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from evals.replay import Buffer, Recorder, Session, Step

N_PREFIX, N_SUFFIX, N_PREDICT = 256, 64, 128
T_MAX_PROMPT_MS, T_MAX_PREDICT_MS, T_FIRST_PREDICT_MS = 500, 1000, 250
MAX_LINE_SUFFIX, MAX_CACHE_KEYS = 8, 250
RING_N_CHUNKS, RING_CHUNK_SIZE, RING_SCOPE, RING_UPDATE_MS, RING_QUEUE = 16, 64, 1024, 1000, 16
RETRY_MS, BUF_ENTER_MS, IDLE_BEFORE_RING_S = 100, 100, 3.0


def chunk_similarity(a: list[str], b: list[str]) -> float:
    """llama.vim's chunk similarity: shared words (split at non-word characters) over all words, times two."""
    words_a = [w for w in re.split(r"\W+", "\n".join(a)) if w]
    words_b = [w for w in re.split(r"\W+", "\n".join(b)) if w]
    if not words_a and not words_b:
        return 1.0
    seen = set(words_a)
    return 2.0 * sum(1 for w in words_b if w in seen) / (len(words_a) + len(words_b))


@dataclass(frozen=True)
class Context:
    prefix: str
    middle: str
    suffix: str
    indent: int
    line_suffix: str

    def key(self) -> str:
        return self.prefix + self.middle + "Î" + self.suffix


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LlamaVimDriver:
    """Replays sessions against an `/infill` server at `url`, as llama.vim would."""

    def __init__(self, name: str, url: str, scale: float = 1.0, seed: int = 0) -> None:
        self.name = name
        self.endpoint = url.rstrip("/") + "/infill"
        self.scale = scale
        self.seed = seed
        self.http: Any = None

    async def start(self) -> None:
        import httpx

        self.http = httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    # --- session lifecycle ----------------------------------------------------------------------

    async def begin(self, session: Session, buffer: Buffer, recorder: Recorder) -> None:
        self.buffer, self.recorder, self.index = buffer, recorder, 0
        self.filename = session.name
        self.rng = random.Random(self.seed)
        self.cache: OrderedDict[str, str] = OrderedDict()
        self.ring: list[list[str]] = []
        self.queued: list[list[str]] = []
        self.modified = False
        self.pos_y_pick = -9999
        self.indent_last = -1
        self.last_move = recorder.now()
        self.shown: list[str] | None = None
        self.job: asyncio.Task[None] | None = None
        self.timer: asyncio.Task[None] | None = None
        self.background: set[asyncio.Task[Any]] = set()
        self._later(BUF_ENTER_MS, self._pick_near_cursor)
        self._spawn(self._ring_loop())

    async def end(self) -> None:
        for task in [self.job, self.timer, *self.background]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in (self.job, self.timer, *self.background) if t], return_exceptions=True)

    async def step(self, index: int, step: Step, edit: tuple[int, int, int, str]) -> None:
        self.index = index
        self.last_move = self.recorder.now()
        if step.kind == "move":  # Esc, then the jump: the hint goes, nothing is asked in normal mode
            self.shown = None
            return
        if step.edits:
            self.modified = True
            self.shown = None  # on_move: hide, then try the cache
            self._try_hint()
            self.fim(auto=True)

    # --- helpers ----------------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def _later(self, ms: float, call: Any) -> asyncio.Task[Any]:
        async def wait() -> None:
            await asyncio.sleep(ms / 1000 * self.scale)
            call()

        return self._spawn(wait())

    def _cache_put(self, key: str, content: str) -> None:
        self.cache.pop(key, None)
        self.cache[key] = content
        while len(self.cache) > MAX_CACHE_KEYS:
            self.cache.popitem(last=False)

    def _cache_get(self, key: str) -> str | None:
        if key in self.cache:
            self.cache.move_to_end(key)
        return self.cache.get(key)

    # --- context ----------------------------------------------------------------------------------

    def context(self, col: int, row: int, prev: list[str]) -> Context:
        lines = self.buffer.lines
        after = lines[row + 1 : row + 1 + N_SUFFIX]
        if not prev:
            line = lines[row]
            before = lines[max(0, row - N_PREFIX) : row]
            if not line.strip():  # a blank line starts from its beginning
                middle, line_suffix, indent = "", "", 0
            else:
                middle, line_suffix, indent = line[:col], line[col:], len(line) - len(line.lstrip())
        else:
            line = lines[row] + prev[0] if len(prev) == 1 else prev[-1]
            before = lines[max(0, row - N_PREFIX + len(prev) - 1) : row]
            if len(prev) > 1:
                before = [*before, lines[row] + prev[0], *prev[1:-1]]
            middle, line_suffix, indent = line, "", self.indent_last
        return Context("\n".join(before) + "\n", middle, line_suffix + "\n" + "\n".join(after) + "\n", indent,
                       line_suffix)  # fmt: skip

    # --- the request loop -------------------------------------------------------------------------

    def fim(self, col: int | None = None, row: int | None = None, *, auto: bool, prev: list[str] | None = None,
            use_cache: bool = True) -> None:  # fmt: skip
        prev = prev or []
        if self.job is not None:  # one at a time: try again shortly
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self._later(RETRY_MS, lambda: self.fim(col, row, auto=True, prev=prev, use_cache=use_cache))
            return
        col = self.buffer.col if col is None else col
        row = self.buffer.row if row is None else row
        ctx = self.context(col, row, prev)
        if auto and len(ctx.line_suffix) > MAX_LINE_SUFFIX:
            return
        hashes = [digest(ctx.key())]
        trimmed = ctx.prefix
        for _ in range(3):
            trimmed = trimmed.split("\n", 1)[1] if "\n" in trimmed else ""
            if not trimmed:
                break
            hashes.append(digest(trimmed + ctx.middle + "Î" + ctx.suffix))
        if use_cache and any(self._cache_get(h) is not None for h in hashes):
            return
        self.indent_last = ctx.indent
        near = self._random_chunk(self._around_cursor())
        self.ring = [c for c in self.ring if chunk_similarity(c, near) <= 0.5]
        body = {
            "id_slot": 0, "input_prefix": ctx.prefix, "input_suffix": ctx.suffix, "input_extra": self._extra(),
            "prompt": ctx.middle, "n_predict": N_PREDICT, "stop": [], "n_indent": ctx.indent, "top_k": 40,
            "top_p": 0.90, "samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True,
            "t_max_prompt_ms": T_MAX_PROMPT_MS, "t_max_predict_ms": T_MAX_PREDICT_MS if prev else T_FIRST_PREDICT_MS,
            "response_fields": ["content", "timings/prompt_n", "timings/prompt_ms", "timings/predicted_n",
                                "timings/predicted_ms", "truncated", "tokens_cached"],
        }  # fmt: skip
        self.job = asyncio.ensure_future(self._send(body, hashes))
        if auto and abs(row - self.pos_y_pick) > 32:  # gather context beyond the windows
            last = len(self.buffer.lines) - 1
            lines = self.buffer.lines
            self._pick(lines[max(0, row - RING_SCOPE) : max(0, row - N_PREFIX) + 1], no_mod=False, evict=False)
            self._pick(lines[min(last, row + N_SUFFIX) : min(last, row + N_SUFFIX + RING_CHUNK_SIZE) + 1],
                       no_mod=False, evict=False)  # fmt: skip
            self.pos_y_pick = row

    async def _send(self, body: dict[str, Any], hashes: list[str]) -> None:
        try:
            self.recorder.requests += 1
            answer = await self.http.post(self.endpoint, json=body)
            data = answer.json()
            if "content" not in data:
                self.recorder.errors.append(f"HTTP {answer.status_code}: {str(data)[:200]}")
                return
            for h in hashes:
                self._cache_put(h, str(data["content"]))
            if self.shown is None:
                self._try_hint()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the server went away or answered nonsense: recorded, the replay goes on
            self.recorder.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if self.job is asyncio.current_task():
                self.job = None

    def _try_hint(self) -> None:
        """Show what the cache holds for the cursor (exact, or asked up to 128 characters back), then speculate."""
        if not self.buffer.insert:
            return
        col, row = self.buffer.col, self.buffer.row
        ctx = self.context(col, row, [])
        content = self._cache_get(digest(ctx.key()))
        if content is None:
            typed = ctx.prefix + ctx.middle
            best = 0
            for i in range(min(128, len(typed))):
                cached = self._cache_get(digest(typed[: len(typed) - 1 - i] + "Î" + ctx.suffix))
                if cached is None or not cached.startswith(typed[len(typed) - 1 - i :]):
                    continue
                rest = cached[i + 1 :]
                if rest and (content is None or len(rest) > best):
                    content, best = rest, len(rest)
        if content is None:
            return
        lines = self._render(col, row, content)
        if lines is not None:
            self.shown = lines
            self.recorder.show(self.index, "\n".join(lines))
            self.fim(col, row, auto=True, prev=lines)

    def _render(self, col: int, row: int, content: str) -> list[str] | None:
        """The suggestion's lines as shown after the cursor, or None when llama.vim would not offer it."""
        lines = content.split("\n")
        while lines and lines[-1] == "":
            lines.pop()
        if not lines:
            return None
        buffer = self.buffer.lines
        line = buffer[row]
        if not line.strip():  # a blank line: the suggestion's own indentation goes first
            lead = min(len(lines[0]) - len(lines[0].lstrip()), len(line))
            line, lines[0] = lines[0][:lead], lines[0][lead:]
        line_prefix, line_suffix = line[:col], line[col:]
        if len(lines) > 1 and lines[0] == "" and lines[1:] == buffer[row + 1 : row + len(lines)]:
            return None
        if len(lines) == 1 and lines[0] == line_suffix:
            return None
        following = row + 1
        while following < len(buffer) - 1 and not buffer[following].strip():
            following += 1
        if following < len(buffer) and line_prefix + lines[0] == buffer[following]:
            n = len(lines)
            if n == 1 or (n == 2 and buffer[following + 1 : following + 2] and
                          lines[-1] == buffer[following + 1][: len(lines[-1])]) or (
                    n > 2 and lines[1:] == buffer[following + 1 : following + n]):  # fmt: skip
                return None
        lines[-1] += line_suffix
        return lines if "\n".join(lines).strip() else None

    # --- the ring buffer of extra context ------------------------------------------------------

    def _extra(self) -> list[dict[str, str]]:
        return [{"text": "\n".join(c) + "\n", "filename": self.filename} for c in self.ring]

    def _around_cursor(self) -> list[str]:
        row, half = self.buffer.row, RING_CHUNK_SIZE // 2
        return self.buffer.lines[max(0, row - half) : min(row + half, len(self.buffer.lines) - 1) + 1]

    def _random_chunk(self, text: list[str]) -> list[str]:
        half = RING_CHUNK_SIZE // 2
        start = self.rng.randint(0, max(0, len(text) - half))
        return text[start : min(start + half, len(text)) + 1]

    def _pick_near_cursor(self) -> None:
        self._pick(self._around_cursor(), no_mod=True, evict=True)

    def _pick(self, text: list[str], *, no_mod: bool, evict: bool) -> None:
        if (no_mod and self.modified) or len(text) < 3:
            return
        chunk = text if len(text) + 1 < RING_CHUNK_SIZE else self._random_chunk(text)
        if chunk in self.ring or chunk in self.queued:
            return
        for pool in (self.queued, self.ring):
            for i in range(len(pool) - 1, -1, -1):
                if chunk_similarity(pool[i], chunk) > 0.9:
                    if not evict:
                        return
                    del pool[i]
        if len(self.queued) == RING_QUEUE:
            self.queued.pop(0)
        self.queued.append(chunk)

    async def _ring_loop(self) -> None:
        while True:
            await asyncio.sleep(RING_UPDATE_MS / 1000 * self.scale)
            idle = (self.recorder.now() - self.last_move) / self.scale >= IDLE_BEFORE_RING_S
            if (self.buffer.insert and not idle) or not self.queued:
                continue
            if len(self.ring) == RING_N_CHUNKS:
                self.ring.pop(0)
            self.ring.append(self.queued.pop(0))
            body = {"id_slot": 0, "input_prefix": "", "input_suffix": "", "input_extra": self._extra(), "prompt": "",
                    "n_predict": 0, "temperature": 0.0, "samplers": [], "stream": False, "cache_prompt": True,
                    "t_max_prompt_ms": 1, "t_max_predict_ms": 1, "response_fields": [""]}  # fmt: skip
            self._spawn(self._warm(body))

    async def _warm(self, body: dict[str, Any]) -> None:
        self.recorder.requests += 1
        try:
            await self.http.post(self.endpoint, json=body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.recorder.errors.append(f"ring update: {type(exc).__name__}: {exc}")
