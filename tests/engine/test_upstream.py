"""`--engine KIND=URL[,key=value...]`: what a spec may say, and what its errors say (never the key)."""

from __future__ import annotations

import pytest

from engine.errors import EngineError
from engine.specs import parse_backend_spec
from engine.upstream import RawLlamaCpp, RawOpenAI, estimate_tokens, family_from_name, upstream_from_spec

SECRET = "sk-upstream-0123456789"


@pytest.mark.parametrize("model, family", [
    ("Qwen/Qwen2.5-Coder-7B", "qwen2.5-coder"), ("google/codegemma-2b", "codegemma"),
    ("bigcode/starcoder2-3b", "starcoder2"), ("TheBloke/starcoder-GGUF", "starcoder2"),
    ("deepseek-ai/deepseek-coder-1.3b-base", "deepseek-coder"), ("codellama-7b.Q4_0.gguf", "codellama"),
    ("/models/bundled.gguf", None), (None, None),
])  # fmt: skip
def test_the_family_is_read_from_the_model_id(model, family):
    assert family_from_name(model) == family


def test_a_spec_builds_the_raw_prompt_wire_of_its_kind():
    llama = upstream_from_spec("llama.cpp=http://gpu:8080,fim_format=qwen2.5-coder,timeout=3,context_tokens=512")
    assert isinstance(llama.wire, RawLlamaCpp) and llama.wire.target == "http://gpu:8080/completion"
    assert llama.fim_format.name == "qwen2.5-coder" and llama.context_tokens == 512
    openai = upstream_from_spec("openai=http://gpu:8000/v1,model=Qwen/Qwen2.5-Coder-7B", context_tokens=2048)
    assert isinstance(openai.wire, RawOpenAI) and openai.wire.target == "http://gpu:8000/v1/completions"
    assert openai.wire.model == "Qwen/Qwen2.5-Coder-7B" and openai.context_tokens == 2048
    body = openai.wire.build(__import__("engine.backend").backend.CompletionRequest(prefix="<PROMPT>"), True)
    assert body["prompt"] == "<PROMPT>" and "suffix" not in body and body["stream"]


@pytest.mark.parametrize("spec, words", [
    ("ollama=http://h:11434", "choose local or one of"),
    ("llama.cpp", "needs the upstream's URL"),
    ("llama.cpp=http://h:8080,colour=blue", "unknown option 'colour'"),
    ("llama.cpp=http://h:8080,timeout=soon", "must be numbers"),
    ("llama.cpp=http://h:8080,timeout=0", "timeout must be positive"),
    ("llama.cpp=http://h:8080,fim_format=gpt", "unknown FIM format 'gpt'"),
    ("llama.cpp=ftp://h:8080", "must start with http"),
])  # fmt: skip
def test_a_bad_spec_is_named(spec, words):
    with pytest.raises(EngineError, match=words):
        upstream_from_spec(spec)


@pytest.mark.parametrize("spec", [f"llama.cpp=http://h:8080,{SECRET}", f"llama.cpp=http://h:8080,api_key={SECRET},x"])
def test_errors_about_a_spec_never_repeat_its_key(spec):
    with pytest.raises(EngineError) as caught:
        parse_backend_spec(spec)
    assert SECRET not in str(caught.value)


def test_the_estimate_counts_no_fewer_tokens_than_the_bundled_tokenizer_for_code(bundled_tokenizer):
    samples = [open(path, encoding="utf-8").read() for path in ("fim/postprocess.py", "engine/upstream.py")]
    samples += [
        "# 注释: 计算总和\ndef 总和(值):\n    return sum(值)\n",
        "print('🎉🚀✨ done ✅')\n",
        "// 日本語のコメント: ユーザーの名前を返す\nfunction 名前() { return 'テスト'; }\n",
    ]
    for text in samples:
        assert estimate_tokens(text) >= len(bundled_tokenizer.encode(text, add_special_tokens=False))
