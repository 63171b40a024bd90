"""The feedback log (`lsp.feedback`): fates seen from edits and client events, retention, secrets, rotation."""

from __future__ import annotations

import asyncio
import json
import time

from lsp.feedback import FeedbackTracker, LogWriter
from lsp.protocol import ContextView, PromptView, SuggestionEvent

URI = "file:///w/a.py"
BEFORE = "def area(r):\n    return "
AFTER = "\n\nprint(area(2))\n"
PROMPT = PromptView(path="a.py", language="python", prefix=BEFORE, suffix=AFTER,
                    context=[ContextView("b.py", "import math\n")])  # fmt: skip
MODEL = {"backend": "local", "model": None, "adapter": None}


def records(path, wait=True):
    deadline = time.time() + 5
    while wait and not path.exists() and time.time() < deadline:
        time.sleep(0.01)
    return [json.loads(line) for line in path.read_text().splitlines()]


def show(tracker, item="item-1", suggestion="3.14 * r * r"):
    tracker.shown(item, URI, BEFORE + AFTER, len(BEFORE), PROMPT, suggestion, 12.5, MODEL)


def test_typing_over_a_suggestion_is_logged_once_the_line_is_finished(tmp_path):
    path = tmp_path / "f.jsonl"
    tracker = FeedbackTracker(path)
    show(tracker)
    tracker.edited(URI, BEFORE + "math.pi * r" + AFTER)  # diverged, line not finished yet
    tracker.edited(URI, BEFORE + "math.pi * r ** 2\n" + AFTER)
    tracker.close()
    [record] = records(path)
    assert record["fate"] == "typed_over" and record["typed"] == "math.pi * r ** 2"
    assert record["suggestion"] == "3.14 * r * r" and record["prefix"] == BEFORE and record["suffix"] == AFTER
    assert record["context_paths"] == ["b.py"] and record["path"] == "a.py" and record["language"] == "python"
    assert record["latency_ms"] == 12.5


def test_typing_the_suggestion_itself_is_typed_through_not_typed_over(tmp_path):
    path = tmp_path / "f.jsonl"
    tracker = FeedbackTracker(path)
    show(tracker)
    tracker.edited(URI, BEFORE + "3.14 * r" + AFTER)  # still agrees: undecided
    tracker.edited(URI, BEFORE + "3.14 * r * r\n" + AFTER)
    tracker.close()
    assert [r["fate"] for r in records(path)] == ["typed_through"]


def test_an_edit_elsewhere_leaves_the_item_undecided_and_it_ends_ignored(tmp_path):
    path = tmp_path / "f.jsonl"
    tracker = FeedbackTracker(path)
    show(tracker)
    tracker.edited(URI, "# new first line\n" + BEFORE + "x\n" + AFTER)
    tracker.closed(URI)
    tracker.close()
    assert [r["fate"] for r in records(path)] == ["ignored"]


def test_an_accepted_item_is_checked_for_retention_after_the_delay(tmp_path):
    path = tmp_path / "f.jsonl"

    async def session():
        tracker = FeedbackTracker(path, retain_s=0.05)
        show(tracker, "item-1")
        show(tracker, "item-2", "* r * r")
        tracker.accepted("item-1")
        tracker.edited(URI, BEFORE + "3.14 * r * r" + AFTER)
        tracker.event(SuggestionEvent("item-2", "partial", accepted="* r"))
        tracker.edited(URI, BEFORE + "3.14 * r" + AFTER)  # the user deleted part of what they accepted
        await asyncio.sleep(0.2)
        tracker.close()

    asyncio.run(session())
    by_item = {r["item"]: r for r in records(path)}
    assert by_item["item-1"]["fate"] == "accepted" and by_item["item-1"]["kept"] == "3.14 * r * r"
    assert by_item["item-1"]["retained"] is False
    assert by_item["item-2"]["fate"] == "partial" and by_item["item-2"]["kept"] == "* r"
    assert by_item["item-2"]["retained"] is True


def test_partial_accepts_add_up_and_dismissals_are_logged(tmp_path):
    path = tmp_path / "f.jsonl"
    tracker = FeedbackTracker(path)
    show(tracker, "item-1")
    show(tracker, "item-2")
    tracker.event(SuggestionEvent("item-1", "partial", accepted="3.14 "))
    tracker.event(SuggestionEvent("item-1", "partial", accepted="* r"))
    assert tracker.event(SuggestionEvent("item-2", "dismissed"))
    assert not tracker.event(SuggestionEvent("item-9", "dismissed"))
    tracker.close()
    by_item = {r["item"]: r for r in records(path)}
    assert by_item["item-1"]["kept"] == "3.14 * r" and by_item["item-2"]["fate"] == "dismissed"


def test_secrets_are_removed_before_anything_is_written(tmp_path):
    path = tmp_path / "f.jsonl"
    key = "AKIA" + "Z7QXJ3KD9PLMNB2R"
    tracker = FeedbackTracker(path)
    secret_prompt = PromptView(path="a.py", language="python", prefix=f"aws_key = '{key}'\n" + BEFORE, suffix=AFTER)
    tracker.shown("item-1", URI, BEFORE + AFTER, len(BEFORE), secret_prompt, f"'{key}'", 1.0, MODEL)
    tracker.close()
    text = path.read_text()
    assert key not in text and json.loads(text)["prefix"] == BEFORE


def test_each_record_is_on_disk_before_the_next_one_and_the_log_rotates(tmp_path):
    path = tmp_path / "f.jsonl"
    writer = LogWriter(path, max_bytes=2000)
    writer.write({"n": 0, "pad": "x" * 100})
    deadline = time.time() + 5
    while not (path.exists() and path.read_text().endswith("\n")) and time.time() < deadline:
        time.sleep(0.01)
    assert json.loads(path.read_text()) == {"n": 0, "pad": "x" * 100}, "the record was not flushed while open"
    for n in range(1, 40):
        writer.write({"n": n, "pad": "x" * 100})
    writer.close()
    rotated = path.with_name("f.jsonl.1")
    assert rotated.exists() and rotated.stat().st_size > 2000 and path.stat().st_size <= 2000 + 200
    numbers = [json.loads(line)["n"] for p in (rotated, path) for line in p.read_text().splitlines()]
    assert numbers == sorted(numbers) and numbers[-1] == 39
