"""Settings: the client's JSON object, validated, with the defaults the contract names."""

from __future__ import annotations

import pytest

from lsp.errors import LspError
from lsp.protocol import Settings, Stats, plain_json, settings_section


def test_defaults_match_the_contract():
    s = Settings()
    assert (s.backend, s.mode, s.context_tokens, s.max_tokens, s.model, s.hint_model) == (
        "local", "complete", 1024, 64, None, None)  # fmt: skip


def test_updates_apply_on_top_and_null_means_default():
    s = Settings(max_tokens=16).updated({"mode": "hint", "max_tokens": "32", "url": "http://h:1"})
    assert (s.mode, s.max_tokens, s.url) == ("hint", 32, "http://h:1")
    assert s.updated({"max_tokens": None, "url": ""}).max_tokens == 64
    assert s.updated({"url": None}).url is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"backend": "gpt"}, "setting backend"),
        ({"mode": "solve"}, "setting mode"),
        ({"max_tokens": 0}, "setting max_tokens"),
        ({"max_tokens": True}, "setting max_tokens"),
        ({"context_tokens": "many"}, "setting context_tokens"),
        ({"url": "127.0.0.1:8012"}, "setting url"),
        ({"model": 3}, "setting model"),
    ],
)
def test_bad_values_name_the_setting(changes, message):
    with pytest.raises(LspError, match=message):
        Settings().updated(changes)


def test_unknown_keys_are_reported_not_fatal():
    assert Settings.unknown_keys({"mode": "hint", "temperature": 1}) == ["temperature"]
    assert Settings().updated({"temperature": 1}) == Settings()


def test_settings_section_and_json_helpers():
    assert settings_section({"codegemma": {"mode": "hint"}}) == {"mode": "hint"}
    assert settings_section({"other": {}}) is None and settings_section(None) is None
    assert Settings(api_key="secret").to_json()["api_key"] == "***"
    # A field a newer server adds does not break an older client.
    assert Stats.from_json({"shown": 2, "added_later": 1}) == Stats(shown=2)
    from collections import namedtuple

    Obj = namedtuple("Obj", ["a", "b"])
    assert plain_json(Obj(1, [Obj(2, 3)])) == {"a": 1, "b": [{"a": 2, "b": 3}]}
