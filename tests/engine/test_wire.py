"""engine.wire: what each peer body leaves out, and that our server reads what our client sends."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.backend import CompletionRequest
from engine.wire import LlamaCppCompletion, LlamaCppInfill, OllamaGenerate, OpenAICompletion
from fim.prompt import ContextFile
from server.protocol import InfillRequest

BARE = CompletionRequest(prefix="a", suffix="b")
FULL = CompletionRequest(prefix="def f():\n    ", suffix="\n", path="src/f.py", context=(ContextFile("u.py", "X = 1\n"),),
                         max_tokens=9, temperature=0.5, top_p=0.9, top_k=3, seed=5, stop=("\n\n",), raw=True,
                         n_indent=4, time_limit_ms=250.0, cache_key="file:///w/f.py")  # fmt: skip


def test_unset_options_are_not_sent():
    assert LlamaCppInfill.of(BARE, False).json_body() == {
        "input_prefix": "a", "input_suffix": "b", "input_extra": [], "prompt": "", "n_indent": 0, "n_predict": BARE.max_tokens,
        "temperature": 0.0, "top_p": 1.0, "top_k": 0, "stop": [], "stream": False, "cache_prompt": True,
    }  # fmt: skip
    assert OpenAICompletion.of(BARE, False, None).json_body() == {
        "prompt": "a", "suffix": "b", "max_tokens": BARE.max_tokens, "temperature": 0.0, "top_p": 1.0, "n": 1, "stream": False,
    }  # fmt: skip
    assert OllamaGenerate.of(BARE, True, "m").json_body()["options"] == {
        "num_predict": BARE.max_tokens, "temperature": 0.0, "top_p": 1.0}  # fmt: skip


def test_set_options_are_sent():
    infill = LlamaCppInfill.of(FULL, True).json_body()
    assert (infill["seed"], infill["t_max_predict_ms"], infill["top_k"], infill["stop"]) == (5, 250.0, 3, ["\n\n"])
    openai = OpenAICompletion.of(FULL, True, "m").json_body()
    assert (openai["model"], openai["seed"], openai["stop"]) == ("m", 5, ["\n\n"])
    assert openai["stream_options"] == {"include_usage": True}
    assert "suffix" not in OpenAICompletion.of(FULL, False, "m", fim=False).json_body()  # a raw prompt
    assert LlamaCppCompletion.of(FULL, False).json_body()["prompt"] == FULL.prefix


def test_our_server_reads_the_infill_body_our_client_sends():
    body = LlamaCppInfill.of(FULL, False, raw=True, path=FULL.path, document=FULL.cache_key).json_body()
    read = InfillRequest.model_validate(body).to_request(64, client="127.0.0.1")
    assert (read.prefix, read.suffix, read.path, read.context) == (FULL.prefix, FULL.suffix, FULL.path, FULL.context)
    assert (read.max_tokens, read.top_k, read.seed, read.stop, read.raw, read.n_indent, read.time_limit_ms) == (
        9, 3, 5, ("\n\n",), True, 4, 250.0)  # fmt: skip
    assert read.cache_key == "127.0.0.1#doc:file:///w/f.py"


def test_a_misspelled_field_is_a_bug_not_a_silent_default():
    with pytest.raises(ValidationError, match="n_predictt"):
        LlamaCppCompletion(
            prompt="x", n_predictt=3, n_predict=1, temperature=0, top_p=1, top_k=0, stop=[], stream=False
        )


@pytest.mark.parametrize("route", ["/infill", "/v1/completions"])
def test_the_language_reaches_our_server_without_a_path(route):
    """`codegemma eval --backend http` sends no path, only the language: without it the server's rules
    did not know the code was Python, and HumanEval through a server lost 4 points to the same engine
    in process (completions that repeat the next line were not cut)."""
    from engine.remote import OurServerBackend
    from server.protocol import OpenAICompletionRequest

    request = CompletionRequest(prefix="def f():\n", suffix="\n", language="python")
    if route == "/infill":
        body = OurServerBackend("http://h:1").build(request, False)
        read = InfillRequest.model_validate(body).to_request(64)
    else:
        read = OpenAICompletionRequest.model_validate({"prompt": "x", "language": "python"}).to_request(64)
    assert read.language == "python"
