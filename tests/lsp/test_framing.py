"""The frame reader: well-formed streams read exactly, broken frames skipped up to the next one."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from lsp.framing import FrameParser, Message, Unreadable


def frame(value, delta: int = 0, headers: bytes = b"") -> bytes:
    body = json.dumps(value).encode()
    return headers + b"Content-Length: %d\r\n\r\n" % max(0, len(body) + delta) + body


def read(stream: bytes, chunk: int | None = None, idle: bool = False) -> list:
    parser = FrameParser()
    events: list = []
    step = chunk or max(1, len(stream))
    for i in range(0, len(stream), step):
        parser.feed(stream[i : i + step])
        events += parser.events()
    return events + (parser.events(idle=True) if idle else [])


def values(events: list) -> list:
    return [e.value if isinstance(e, Message) else "unreadable" for e in events]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
messages = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(messages, min_size=1, max_size=5), st.integers(1, 64))
def test_well_formed_streams_are_read_exactly_in_any_chunking(sent, chunk):
    stream = b"".join(frame(m, headers=b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n") for m in sent)
    assert values(read(stream, chunk)) == sent


@settings(max_examples=200, deadline=None)
@given(st.lists(messages, min_size=2, max_size=4), st.integers(-30, 300), st.integers(0, 3))
def test_one_wrong_length_loses_no_message(sent, delta, which):
    which %= len(sent)
    stream = b"".join(frame(m, delta if i == which else 0) for i, m in enumerate(sent))
    assert values(read(stream)) == sent


def test_lengths_off_by_any_amount_are_recovered_when_the_body_is_an_object():
    sent = [{"id": i, "method": "m", "params": {"text": "x" * i}} for i in range(4)]
    for delta in (-40, -1, 1, 7, 10_000):
        stream = b"".join(frame(m, delta) for m in sent)
        assert values(read(stream, chunk=5)) == sent, delta


def test_a_header_that_cannot_be_read_skips_only_its_own_frame():
    good = frame({"id": 2})
    for bad in (b"Content-Length: abc\r\n\r\n{\"id\": 1}", b"Content-Type: text/plain\r\n\r\n{\"id\": 1}",
                b"garbage\r\n\r\n", b"{\"id\": 1}", b"\x00\xff\r\nContent-Length: x\r\n\r\n"):  # fmt: skip
        assert values(read(bad + good, chunk=3)) == [{"id": 2}], bad


def test_a_body_that_is_not_json_is_reported_once_and_reading_goes_on():
    stream = b"Content-Length: 9\r\n\r\n{not json" + frame({"id": 3})
    assert values(read(stream)) == ["unreadable", {"id": 3}]
    events = read(b"Content-Length: 5\r\n\r\n\xff\xfe{}}", idle=True)
    assert len(events) == 1 and isinstance(events[0], Unreadable)


def test_a_body_that_is_not_json_waits_for_more_bytes_until_the_stream_is_idle():
    parser = FrameParser()
    parser.feed(b'Content-Length: 10\r\n\r\n{"id": 4, ')  # declared 10 bytes, more may follow
    assert parser.events() == [] and parser.stalled
    parser.feed(b'"x": 1}')
    assert values(parser.events()) == [{"id": 4, "x": 1}]


def test_a_large_body_in_small_chunks_is_read_once():
    text = "def f():\n    return {}\n" * 20_000
    assert values(read(frame({"text": text}), chunk=4096)) == [{"text": text}]
