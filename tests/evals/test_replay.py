"""The editor replay benchmark: sessions, the two metrics on known inputs, and both drivers on a sped-up replay.

The drivers run for real (llama.vim's loop against a scripted `/infill`
server that answers with the rest of the line being retyped; our language
server as a subprocess on the tiny model), four times faster than a user.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from evals.errors import EvalError
from evals.llama_vim import LlamaVimDriver, chunk_similarity
from evals.replay import Buffer, DriverResult, Recorder, Step, build_sessions, pause_latencies, replay, shown_ahead
from evals.replay_cli import make_driver, replay_table
from evals.replay_lsp import LspDriver
from tests.evals.conftest import ScriptedBackend, serving

SCALE = 0.25


def test_sessions_are_deterministic_and_retype_the_file():
    first, again = build_sessions(2, seed=3, lines_per_session=2), build_sessions(2, seed=3, lines_per_session=2)
    assert [(s.path, s.steps) for s in first] == [(s.path, s.steps) for s in again]
    for session in first:
        buffer = Buffer(session.text)
        for step in session.steps:
            buffer.apply(step)
        assert buffer.text == session.text  # every cleared line was typed back as it was
        keys = [s for s in session.steps if s.kind == "key"]
        gaps = [b.at - a.at for a, b in zip(keys, keys[1:]) if b.line == a.line]
        assert all(0.15 - 1e-9 <= g <= 0.25 + 1e-9 or 0.9 <= g <= 1.3 for g in gaps)
        assert any(g >= 0.9 for g in gaps)  # some pauses inside the line


def test_pause_latency_and_characters_shown_ahead_on_known_inputs():
    steps = [Step(0.0, "open"), Step(1.0, "move", 5), Step(2.0, "clear", 5),  # pause after the clear: 1 s
             Step(3.0, "key", 5, "a"), Step(3.2, "key", 5, "b"), Step(3.4, "key", 5, "c"),  # pause after "c"
             Step(4.4, "key", 5, "d"), Step(4.6, "key", 5, "e")]  # fmt: skip
    shown = [
        (2, 2.4, "ab"),  # 0.4 s after the clear: shows "ab" before "a" and "b" are typed
        (3, 3.0, "b"),  # typed along
        (5, 3.9, "dx"),  # 0.5 s into the pause after "c": "d" is then typed, "e" is not "x"
        (7, 5.2, "zz"),  # after the session's last key, within the final pause
    ]
    latencies = pause_latencies(steps, shown, duration=5.5)
    assert latencies == pytest.approx([0.4, 0.5, 0.6])
    assert shown_ahead(steps, shown) == 3  # a, b, d
    # Nothing shown for a pause counts as never; a scaled (sped-up) record is read back in real seconds.
    assert pause_latencies(steps, shown[:1], duration=5.5) == [pytest.approx(0.4), math.inf, math.inf]
    half = [(v, t / 2, text) for v, t, text in shown]
    assert pause_latencies(steps, half, duration=5.5, scale=0.5) == pytest.approx(latencies)
    result = DriverResult(latencies=[0.4, math.inf, math.inf], ahead=3, typed=5, minutes=0.5)
    summary = result.summary()
    assert summary["pause_to_suggestion_median_s"] is None  # most pauses had none: the median is "never"
    assert summary["chars_per_minute_shown_ahead"] == 6.0
    assert "never" in replay_table({"x": summary})


def test_chunk_similarity_is_shared_words():
    assert chunk_similarity(["a b c"], ["a b c"]) == 1.0
    assert chunk_similarity(["a b"], ["c d"]) == 0.0
    assert chunk_similarity(["x = f(a)"], ["x = g(a)"]) == pytest.approx(2 * 2 / 6)


def test_bad_driver_specs_are_refused_by_name():
    for spec in ("llama.vim", "llama.vim=localhost:8080", "vscode", "lsp=ftp://x"):
        with pytest.raises(EvalError, match="--driver"):
            make_driver(spec)
    assert isinstance(make_driver("lsp=http://127.0.0.1:8012 --no-prefetch"), LspDriver)


def oracle_for(session):
    """Answers with the rest of the line being retyped (whatever is asked): a perfect, instant model."""
    lines = session.text.split("\n")
    row = next(s.line for s in session.steps if s.kind == "clear")

    def answer(request):
        typed = request.prefix.rsplit("\n", 1)[-1]
        return lines[row][len(typed) :] if lines[row].startswith(typed) else ""

    return answer


def test_llama_vim_driver_against_a_scripted_infill_server():
    from server.app import create_app
    from server.service import CompletionService

    session = build_sessions(1, seed=5, lines_per_session=1)[0]
    backend = ScriptedBackend(oracle_for(session), delay=0.02)
    service = CompletionService(lambda: backend)
    service.start_loading().join()
    with serving(create_app(service)) as url:
        driver = LlamaVimDriver("llama.vim", url, scale=SCALE)
        results = asyncio.run(replay([driver], [session], scale=SCALE))
    summary = results["llama.vim"].summary()
    assert summary["errors"] == 0, summary["first_error"]
    assert summary["pauses"] >= 2 and summary["pauses_with_suggestion"] >= 1
    # With a perfect model almost every key typed was already on screen.
    assert summary["chars_shown_ahead"] >= summary["chars_typed"] // 2
    sent = [r for r in backend.requests]
    assert sent and all(r.path is None for r in sent)  # llama.vim sends no path, only input_extra chunks
    assert summary["pause_to_suggestion_median_s"] is not None and summary["pause_to_suggestion_median_s"] < 1.0


def test_lsp_driver_on_the_tiny_model(tiny_model_dir):
    session = build_sessions(1, seed=2, lines_per_session=1)[0]
    driver = LspDriver("lsp", ["--model", str(tiny_model_dir), "--max-tokens", "4"], scale=SCALE)
    results = asyncio.run(replay([driver], [session], scale=SCALE))
    summary = results["lsp"].summary()
    assert summary["errors"] == 0, summary["first_error"]
    assert summary["requests"] >= 1 and summary["pauses"] >= 2
    assert 0 <= summary["chars_shown_ahead"] <= summary["chars_typed"]


def test_a_recorder_ignores_empty_suggestions():
    recorder = Recorder()
    recorder.show(1, "")
    recorder.show(1, "x")
    assert [text for _, _, text in recorder.shown] == ["x"]
