"""The document store: positions in every encoding, incremental edits, the lazily parsed tree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from lsp.documents import ENCODINGS, Document, DocumentStore, column_to_index, index_to_column, units
from lsp.errors import LspError

TEXT = 'name = "héllo 😀 wörld"\nprint(name)  # 👍🏽 done\n'


def encoded_len(text: str, encoding: str) -> int:
    return sum(units(ch, encoding) for ch in text)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_columns_round_trip_through_every_character(encoding):
    line = TEXT.splitlines()[1]
    for index in range(len(line) + 1):
        column = index_to_column(line, index, encoding)
        assert column == encoded_len(line[:index], encoding)
        assert column_to_index(line, column, encoding) == index


def test_emoji_takes_two_utf16_units_and_four_utf8_bytes():
    line = "a😀b"
    assert [index_to_column(line, 2, e) for e in ENCODINGS] == [5, 3, 2]
    # Half a surrogate pair (or a byte inside a sequence) rounds down to the character's start.
    assert column_to_index(line, 2, "utf-16") == 1
    assert column_to_index(line, 3, "utf-8") == 1
    # Past the end of the line means the end of the line, as the LSP spec says.
    assert column_to_index(line, 99, "utf-16") == 3


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_ranged_edit_after_an_emoji_lands_where_the_client_meant(encoding):
    doc = Document("file:///w/a.py", TEXT, "python")
    line0 = TEXT.splitlines()[0]
    after_emoji = line0.index("😀") + 1
    column = encoded_len(line0[:after_emoji], encoding)
    here = types.Position(0, column)
    doc.apply(types.TextDocumentContentChangePartial(range=types.Range(here, here), text="!"), encoding)
    assert doc.text.splitlines()[0] == 'name = "héllo 😀! wörld"'
    # Replace "wörld" (a range whose ends sit after non-ASCII text) with "🌍".
    line0 = doc.text.splitlines()[0]
    start, end = line0.index("wörld"), line0.index("wörld") + len("wörld")
    edit = types.Range(
        types.Position(0, encoded_len(line0[:start], encoding)), types.Position(0, encoded_len(line0[:end], encoding))
    )
    doc.apply(types.TextDocumentContentChangePartial(range=edit, text="🌍"), encoding)
    assert doc.text.splitlines()[0] == 'name = "héllo 😀! 🌍"'


def test_multi_line_edits_and_crlf_line_endings():
    doc = Document("file:///w/a.py", "one\r\ntwo\rthree\nfour", "python")
    assert [doc.line(i) for i in range(4)] == ["one", "two", "three", "four"]
    span = types.Range(types.Position(0, 2), types.Position(2, 1))
    doc.apply(types.TextDocumentContentChangePartial(range=span, text="X\nY"), "utf-16")
    assert doc.text == "onX\nYhree\nfour"
    assert doc.position_at(len("onX\nYh"), "utf-16") == types.Position(1, 2)


def test_whole_document_change_replaces_the_text():
    doc = Document("file:///w/a.py", "old", "python")
    doc.apply(types.TextDocumentContentChangeWholeDocument(text="new 😀"), "utf-16")
    assert doc.text == "new 😀"


def test_positions_past_the_end_clamp():
    doc = Document("file:///w/a.py", "ab\ncd", "python")
    assert doc.offset_at(types.Position(7, 0), "utf-16") == len(doc.text)
    assert doc.split(types.Position(1, 40), "utf-16") == ("ab\ncd", "")


def test_tree_follows_the_edits():
    doc = Document("file:///w/a.py", "def f(:\n    pass\n", "python")
    assert doc.tree.root_node.has_error
    start, end = types.Position(0, 6), types.Position(0, 6)
    doc.apply(types.TextDocumentContentChangePartial(range=types.Range(start, end), text="x)"), "utf-16")
    assert doc.text.startswith("def f(x):")
    assert not doc.tree.root_node.has_error


def test_language_from_language_id_or_path():
    assert Document("file:///w/a.tsx", "", "typescriptreact").language == "tsx"
    assert Document("file:///w/a.rs", "", "unknown-id").language == "rust"
    assert Document("file:///w/notes.txt", "", "plaintext").language is None
    assert Document("file:///w/notes.txt", "", "plaintext").tree is None


def test_store_paths_relative_to_the_root_and_clear_errors():
    store = DocumentStore("utf-16", root="/w")
    doc = store.open("file:///w/pkg/a.py", "x", "python")
    assert store.display_path(doc) == "pkg/a.py"
    outside = store.open("file:///elsewhere/b.py", "y", "python")
    assert store.display_path(outside) == "b.py"
    with pytest.raises(LspError, match="not open"):
        store.get("file:///w/missing.py")
    with pytest.raises(LspError, match="position encoding"):
        DocumentStore("utf-7")


_chars = st.sampled_from(list("ab \n\té😀👍🏽中\r"))


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(_chars, max_size=30),
    edits=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.text(_chars, max_size=5)), max_size=6),
    encoding=st.sampled_from(ENCODINGS),
)
def test_incremental_edits_equal_splicing_the_string(text, edits, encoding):
    """Any edit the client expresses in its encoding splices the same string the client has."""
    doc = Document("file:///w/a.txt", text, "plaintext")
    expected = text
    for a, b, new in edits:
        a, b = sorted((min(a, len(expected)), min(b, len(expected))))
        # Do not split a \r\n pair: the client's editor never places a position between them.
        if 0 < a < len(expected) and expected[a - 1 : a + 1] == "\r\n":
            a -= 1
        if 0 < b < len(expected) and expected[b - 1 : b + 1] == "\r\n":
            b -= 1
        start, end = doc.position_at(a, encoding), doc.position_at(b, encoding)
        doc.apply(types.TextDocumentContentChangePartial(range=types.Range(start, end), text=new), encoding)
        expected = expected[:a] + new + expected[b:]
        assert doc.text == expected


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_lone_surrogate_becomes_a_replacement_character_in_the_same_column(encoding):
    """Half a UTF-16 pair from a JSON client: the text stays encodable and the columns after it stay put."""
    store = DocumentStore(encoding)
    doc = store.open("file:///s\ud800.py", "a = '\ud800'\n", "python")
    assert doc.text == "a = '\ufffd'\n" and doc.path.endswith("s\ufffd.py")
    after = encoded_len("a = '\ud800", encoding)  # how the client counts it
    store.change(doc.uri, 2, [types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(0, after), types.Position(0, after)), text="\udfffb")])  # fmt: skip
    assert doc.text == "a = '\ufffd\ufffdb'\n"
    doc.text.encode("utf-8")  # what the tokenizer, tree-sitter and HTTP backends need
    assert doc.tree is not None
