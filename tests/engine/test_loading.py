"""Model loading: every kind of `--model`, and one clear line for every bad one."""

from __future__ import annotations

import json

import httpx2
import pytest
from huggingface_hub import errors as hub

from engine.bundled import BUNDLED_SHA256, assemble, bundled_parts
from engine.errors import EngineError
from engine.gguf import check_gguf
from engine.loading import _hub_error, check_format, describe_source, load_model
from fim.formats import get_format


def test_local_directory_loads_with_detected_format_and_stop_ids(tiny_model):
    tok = tiny_model.tokenizer
    assert tiny_model.fim_format.name == "qwen2.5-coder"
    for sentinel in ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>", "<|endoftext|>"):
        assert tok.convert_tokens_to_ids(sentinel) in tiny_model.stop_ids
    assert tok.convert_tokens_to_ids("<|im_end|>") in tiny_model.stop_ids


def test_forced_format_must_fit_the_tokenizer(tiny_model_dir):
    with pytest.raises(EngineError, match=r"no single token for the FIM sentinel '<\|file_separator\|>'"):
        load_model(str(tiny_model_dir), fim_format="codegemma")
    with pytest.raises(EngineError, match="unknown FIM format"):
        load_model(str(tiny_model_dir), fim_format="nope")


def test_tokenizer_without_sentinels_is_refused(tiny_model):
    with pytest.raises(EngineError, match="cannot infill"):
        check_format(tiny_model.tokenizer, get_format("starcoder2"), "tiny")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/model.gguf", "model file not found"),
        ("./no-such-dir", "neither a model directory nor a .gguf file"),
        ("justaname", "not a Hugging Face id"),
    ],
)
def test_bad_model_specs(spec, message):
    with pytest.raises(EngineError, match=message):
        load_model(spec)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(EngineError, match="no config.json"):
        load_model(str(tmp_path))


def test_unreachable_hub_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError, match="cannot download google/codegemma-2b.*bundled model"):
        load_model("google/codegemma-2b")


def _http_error(cls, status):
    response = httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/x/config.json"))
    return cls("hub said no", response=response)


def test_gated_and_unknown_hub_ids_get_their_own_advice():
    gated = OSError("wrapped")
    gated.__cause__ = _http_error(hub.GatedRepoError, 401)
    assert "gated" in str(_hub_error("google/codegemma-2b", gated)) and "HF_TOKEN" in str(_hub_error("g/c", gated))
    missing = OSError("wrapped")
    missing.__cause__ = _http_error(hub.RepositoryNotFoundError, 404)
    assert "no model 'who/what'" in str(_hub_error("who/what", missing))


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(EngineError, match="is not a GGUF file"):
        load_model(str(bad))


def test_truncated_gguf_is_reported(tmp_path):
    first_slice = bundled_parts()[0]  # the first 89 MB of the bundled GGUF: a real header, missing tensors
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(first_slice.read_bytes())
    with pytest.raises(EngineError, match="corrupt or truncated"):
        check_gguf(truncated)


def test_bundled_hash_mismatch_removes_the_output(tmp_path):
    out = tmp_path / "model.gguf"
    with pytest.raises(EngineError, match="corrupt or truncated.*reinstall"):
        assemble(bundled_parts()[:1], out, BUNDLED_SHA256)
    assert not out.exists()


def test_missing_adapter_is_explained(tiny_model_dir, tmp_path):
    with pytest.raises(EngineError, match="no adapter_config.json"):
        load_model(str(tiny_model_dir), adapter=str(tmp_path))


def test_describe_source_kinds(tiny_model_dir):
    assert describe_source(None) == ("bundled", "bundled")
    assert describe_source("google/codegemma-2b") == ("hub", "google/codegemma-2b")
    assert describe_source(str(tiny_model_dir))[0] == "dir"
    assert json.loads((tiny_model_dir / "config.json").read_text())["model_type"] == "qwen2"
