"""Editor replay: scripted editing sessions on real files, sent the way each editor client sends them.

A session opens a file nobody here wrote (from installed site-packages:
click, httpx, requests, pydantic, ...; chosen with a seed), pauses, moves to
a line, clears it to its indentation and types it again character by
character, 150-250 ms per key with seeded jitter, pausing about a second
after some words and at the end of the line; a few lines per session, in
real time. Each driver (`evals.replay_lsp`: our language server as our
editor clients drive it; `evals.llama_vim`: llama.cpp's `/infill` as
llama.vim drives it) sees the same steps and reports every suggestion it
would show, for which state of the buffer, and when.

Two numbers per driver:

- time from a pause to a suggestion: a pause begins at an edit (a keystroke
  or the clearing of the line) after which the user does nothing for at
  least `PAUSE_S` (longer than any gap between keys and than both clients'
  debounce). The time runs from that edit to the first suggestion shown for
  that exact buffer (0 when one typed along stays shown); a pause that ends
  with none counts as never (an infinite time), so the median and p90 are
  over every pause;
- characters per minute shown ahead: the keystrokes whose character a
  suggestion on screen already showed next (what accepting would have saved),
  over the sessions' minutes.

Drivers take turns session by session, and who goes first alternates.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Sequence

from evals.errors import EvalError
from evals.metrics import percentile
from evals.sources import body_lines

#: Installed packages whose files are replayed (written elsewhere, so no model here was tuned on our reading of them).
SOURCE_PACKAGES = ("click", "httpx", "requests", "pydantic", "rich", "jinja2", "urllib3", "starlette", "fastapi")
#: Gaps between keystrokes (ms), and the length of a pause (s); both jittered with the seed.
KEY_MS = (150, 250)
PAUSE_RANGE_S = (0.9, 1.3)
#: An edit followed by at least this much quiet is a pause (s): above any key gap and both clients' debounce.
PAUSE_S = 0.5
#: Chance of a pause after a word (a space or punctuation after a letter or digit).
WORD_PAUSE = 0.25
#: Lines retyped must be real statements of this many characters (after the indentation).
LINE_CHARS = (16, 70)


@dataclass(frozen=True)
class Step:
    """One thing the user does, `at` seconds after the session starts."""

    at: float
    kind: Literal["open", "move", "clear", "key"]
    #: The line moved to or cleared (0-based), or for `key` the line typed on.
    line: int = 0
    #: The character typed (`key`).
    char: str = ""

    @property
    def edits(self) -> bool:
        return self.kind in ("clear", "key")


@dataclass(frozen=True)
class Session:
    path: Path
    text: str
    steps: tuple[Step, ...]
    #: How long the session lasts (the last pause included), in seconds.
    duration: float

    @property
    def name(self) -> str:
        parts = self.path.parts
        return "/".join(parts[parts.index("site-packages") + 1 :]) if "site-packages" in parts else str(self.path)


class Buffer:
    """The editor's text and cursor as the steps change them (columns count characters)."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.row, self.col = 0, 0
        self.insert = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def apply(self, step: Step) -> tuple[int, int, int, str]:
        """Do `step`; returns the edit as (row, start column, end column, new text) (empty for moves)."""
        if step.kind == "move":
            self.row, self.col, self.insert = step.line, len(self.lines[step.line]), False
            return (self.row, self.col, self.col, "")
        if step.kind == "clear":
            line = self.lines[step.line]
            keep = len(line) - len(line.lstrip())
            self.lines[step.line] = line[:keep]
            self.row, self.col, self.insert = step.line, keep, True
            return (step.line, keep, len(line), "")
        if step.kind == "key":
            line = self.lines[self.row]
            self.lines[self.row] = line[: self.col] + step.char + line[self.col :]
            self.col += 1
            return (self.row, self.col - 1, self.col - 1, step.char)
        return (0, 0, 0, "")


class Recorder:
    """What a driver showed: (step index the buffer was at, seconds since the session start, text after the cursor)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown: list[tuple[int, float, str]] = []
        self.requests = 0
        self.errors: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def show(self, version: int, text: str) -> None:
        if text:
            self.shown.append((version, self.now(), text))


class Driver(Protocol):
    """An editor client replaying steps against its backend."""

    name: str

    async def start(self) -> None: ...

    async def begin(self, session: Session, buffer: Buffer, recorder: Recorder) -> None: ...

    async def step(self, index: int, step: Step, edit: tuple[int, int, int, str]) -> None: ...

    async def end(self) -> None: ...

    async def close(self) -> None: ...


# --- sessions ----------------------------------------------------------------------------------


def source_files(packages: Sequence[str] = SOURCE_PACKAGES) -> list[Path]:
    """Python files of the installed `packages` with enough code to retype (sorted, so a seed picks the same)."""
    files = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            files += [p for p in Path(root).rglob("*.py") if "tests" not in p.parts and p.stat().st_size > 3000]
    if not files:
        raise EvalError(f"none of {', '.join(packages)} is installed; install one (pip install click) to replay")
    return sorted(set(files))


def retypable_lines(text: str) -> list[int]:
    """Statements in function bodies on one line of reasonable length, past the file's first 20 lines."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    lines = text.split("\n")
    return [i for i in body_lines(tree) if i >= 20 and LINE_CHARS[0] <= len(lines[i].strip()) <= LINE_CHARS[1]
            and lines[i].isascii() and not lines[i].rstrip().endswith(("(", "[", "{", "\\", ","))]  # fmt: skip


def build_sessions(count: int, seed: int, lines_per_session: int = 3) -> list[Session]:
    """`count` sessions, deterministic for `seed` and the installed package versions."""
    rng = random.Random(seed)
    files = source_files()
    sessions: list[Session] = []
    for path in rng.sample(files, len(files)):
        if len(sessions) == count:
            break
        text = path.read_text(encoding="utf-8", errors="replace")
        candidates = retypable_lines(text)
        if len(candidates) < lines_per_session:
            continue
        targets = rng.sample(candidates, lines_per_session)
        sessions.append(script(path, text, targets, rng))
    if len(sessions) < count:
        raise EvalError(f"only {len(sessions)} of the installed files have {lines_per_session} lines to retype")
    return sessions


def script(path: Path, text: str, targets: list[int], rng: random.Random) -> Session:
    """The steps of one session: open, pause, then per target line: move, pause, clear, pause, type it."""
    lines = text.split("\n")
    steps = [Step(0.0, "open")]
    at = rng.uniform(*PAUSE_RANGE_S)

    def pause() -> float:
        return rng.uniform(*PAUSE_RANGE_S)

    for line in targets:
        steps.append(Step(at, "move", line))
        at += pause()
        steps.append(Step(at, "clear", line))
        at += pause()
        typed = lines[line].strip()
        for i, ch in enumerate(typed):
            steps.append(Step(at, "key", line, ch))
            word_end = i + 1 < len(typed) and typed[i + 1] in " .,()[]:=" and ch.isalnum()
            if i + 1 == len(typed) or (word_end and rng.random() < WORD_PAUSE):
                at += pause()
            else:
                at += rng.uniform(*KEY_MS) / 1000
    return Session(path, text, tuple(steps), duration=at)


# --- metrics -----------------------------------------------------------------------------------


def pause_latencies(steps: Sequence[Step], shown: Sequence[tuple[int, float, str]], duration: float,
                    scale: float = 1.0) -> list[float]:  # fmt: skip
    """Seconds from each pause's edit to the first suggestion for that buffer (inf when none came in the pause)."""
    out = []
    for index, step in enumerate(steps):
        end = steps[index + 1].at if index + 1 < len(steps) else duration
        if not step.edits or end - step.at < PAUSE_S:
            continue
        times = [t / scale for version, t, _ in shown if version == index and t / scale <= end + 1e-9]
        out.append(max(0.0, min(times) - step.at) if times else math.inf)
    return out


def shown_ahead(steps: Sequence[Step], shown: Sequence[tuple[int, float, str]], scale: float = 1.0) -> int:
    """Keystrokes whose character the suggestion on screen just before them showed next."""
    count = 0
    for index, step in enumerate(steps):
        if step.kind != "key" or index == 0:
            continue
        before = [(t, text) for version, t, text in shown if version == index - 1 and t / scale <= step.at + 1e-9]
        if before and max(before)[1].startswith(step.char):
            count += 1
    return count


@dataclass
class DriverResult:
    """One driver's record over all sessions."""

    latencies: list[float] = field(default_factory=list)
    ahead: int = 0
    typed: int = 0
    minutes: float = 0.0
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, session: Session, recorder: Recorder, scale: float) -> None:
        self.latencies += pause_latencies(session.steps, recorder.shown, session.duration, scale)
        self.ahead += shown_ahead(session.steps, recorder.shown, scale)
        self.typed += sum(1 for s in session.steps if s.kind == "key")
        self.minutes += session.duration / 60
        self.requests += recorder.requests
        self.errors += recorder.errors

    def summary(self) -> dict[str, Any]:
        def seconds(q: float) -> float | None:
            value = tail_percentile(self.latencies, q)
            return None if math.isinf(value) or math.isnan(value) else round(value, 3)

        finite = [v for v in self.latencies if not math.isinf(v)]
        return {
            "pauses": len(self.latencies),
            "pauses_with_suggestion": len(finite),
            "pause_to_suggestion_median_s": seconds(50),
            "pause_to_suggestion_p90_s": seconds(90),
            "chars_typed": self.typed,
            "chars_shown_ahead": self.ahead,
            "chars_per_minute_shown_ahead": round(self.ahead / self.minutes, 1) if self.minutes else 0.0,
            "session_minutes": round(self.minutes, 2),
            "requests": self.requests,
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
        }


def tail_percentile(values: Sequence[float], q: float) -> float:
    """`percentile` that lets misses (inf) count: a percentile that falls on one is inf."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    at = (len(ordered) - 1) * q / 100
    low, high = math.floor(at), math.ceil(at)
    if math.isinf(ordered[high]):
        return ordered[low] if at == low else math.inf
    return percentile(ordered, q)


# --- running -----------------------------------------------------------------------------------


async def replay_session(driver: Driver, session: Session, scale: float = 1.0) -> Recorder:
    """Play `session`'s steps to `driver` in real time (`scale` < 1 plays faster, for tests)."""
    buffer = Buffer(session.text)
    recorder = Recorder()
    await driver.begin(session, buffer, recorder)
    for index, step in enumerate(session.steps):
        delay = step.at * scale - recorder.now()
        if delay > 0:
            await asyncio.sleep(delay)
        await driver.step(index, step, buffer.apply(step))
    delay = session.duration * scale - recorder.now()
    if delay > 0:
        await asyncio.sleep(delay)
    await driver.end()
    return recorder


async def replay(drivers: Sequence[Driver], sessions: Sequence[Session], scale: float = 1.0,
                 progress: Any = None) -> dict[str, DriverResult]:  # fmt: skip
    """Every session on every driver, taking turns session by session (who goes first alternates)."""
    results = {d.name: DriverResult() for d in drivers}
    for driver in drivers:
        await driver.start()
    try:
        for number, session in enumerate(sessions):
            order = list(drivers) if number % 2 == 0 else list(reversed(drivers))
            for driver in order:
                recorder = await replay_session(driver, session, scale)
                results[driver.name].add(session, recorder, scale)
                if progress is not None:
                    progress(driver.name, session, results[driver.name])
    finally:
        for driver in drivers:
            await driver.close()
    return results
