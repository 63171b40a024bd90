"""Chat generation for hints: the model's own chat template, stops, cancellation, clear errors."""

from __future__ import annotations

import pytest

from engine.backend import CancelToken
from engine.chat import ChatModel, chat_stop_ids, load_chat_model
from engine.errors import EngineError

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a sorting algorithm."}]

#: A Gemma-style template: no system role, `<start_of_turn>` turns.
GEMMA_LIKE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from engine.bundled import bundled_model_dir

    return AutoTokenizer.from_pretrained(bundled_model_dir())


def test_the_prompt_comes_from_the_models_chat_template(tokenizer):
    chat = ChatModel(model=None, tokenizer=tokenizer, name="bundled")
    prompt = chat.render(MESSAGES)
    assert "<|im_start|>system\nBe brief." in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in chat.stop_ids


def test_a_template_without_a_system_role_gets_it_in_the_first_user_turn(tokenizer):
    import copy

    gemma_like = copy.deepcopy(tokenizer)
    gemma_like.chat_template = GEMMA_LIKE
    prompt = ChatModel(model=None, tokenizer=gemma_like, name="gemma-like").render(MESSAGES)
    assert prompt.startswith("<start_of_turn>user\nBe brief.\n\nName a sorting algorithm.<end_of_turn>")
    assert prompt.endswith("<start_of_turn>model\n")


def test_a_model_without_a_chat_template_is_refused_clearly(tokenizer):
    import copy

    base = copy.deepcopy(tokenizer)
    base.chat_template = None
    with pytest.raises(EngineError, match="no chat template"):
        ChatModel(model=None, tokenizer=base, name="base-model")


def test_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(EngineError, match="not found|config.json"):
        load_chat_model(str(tmp_path / "nowhere" / "model.gguf"))


def test_reply_stops_at_the_token_limit_and_on_cancel(tiny_model):
    chat = ChatModel.from_loaded(tiny_model)
    assert chat_stop_ids(tiny_model.tokenizer, tiny_model.model) <= chat.stop_ids
    result = chat.reply(MESSAGES, max_tokens=5)
    assert result.generated_tokens <= 5 and result.finish_reason in ("length", "stop")
    assert "<|im_end|>" not in result.text
    # The next chat reuses the cached start of the last prompt.
    again = chat.reply(MESSAGES[:1] + [{"role": "user", "content": "Name a data structure."}], max_tokens=2)
    assert again.cached_tokens > 0
    cancel = CancelToken()
    cancel.cancel()
    assert chat.reply(MESSAGES, max_tokens=5, cancel=cancel).finish_reason == "cancelled"
