/** The suggestion tracker under `node --test`: which `codegemma/event` each way of leaving a suggestion sends. */

import { strict as assert } from "node:assert";
import { test } from "node:test";

import { SuggestionEvent, SuggestionTracker } from "../events";

function tracker(): { sent: SuggestionEvent[]; tracker: SuggestionTracker } {
  const sent: SuggestionEvent[] = [];
  return { sent, tracker: new SuggestionTracker((event) => sent.push(event)) };
}

const URI = "file:///t.py";
const ITEM = [{ id: "item-1", text: "return total\n" }];

test("Tab: the whole text arrives, then the item command: one accepted event with the text", () => {
  const { sent, tracker: t } = tracker();
  t.shown(URI, 10, ITEM);
  t.changed(URI, 10, 0, "return total\n");
  t.moved(URI, 23);
  t.accepted("item-1");
  assert.deepEqual(sent, [{ item: "item-1", kind: "accepted", accepted: "return total\n", typed: "" }]);
});

test("next word twice, then the cursor leaves: one partial event with what was kept", () => {
  const { sent, tracker: t } = tracker();
  t.shown(URI, 10, ITEM);
  t.changed(URI, 10, 0, "return");
  t.shown(URI, 16, [{ id: "item-2", text: " total\n" }]); // VS Code asks again: the same suggestion continues
  t.changed(URI, 16, 0, " ");
  t.moved(URI, 17);
  t.moved(URI, 3);
  assert.deepEqual(sent, [{ item: "item-1", kind: "partial", accepted: "return ", typed: "" }]);
});

test("typing other characters: typed over, with what was typed", () => {
  const { sent, tracker: t } = tracker();
  t.shown(URI, 10, ITEM);
  t.changed(URI, 10, 0, "x");
  assert.deepEqual(sent, [{ item: "item-1", kind: "typed_over", accepted: "", typed: "x" }]);
});

test("moving away or a new suggestion elsewhere: dismissed; another document's edits are ignored", () => {
  const { sent, tracker: t } = tracker();
  t.shown(URI, 10, ITEM);
  t.changed("file:///other.py", 0, 0, "zzz");
  t.moved(URI, 10);
  assert.equal(sent.length, 0);
  t.shown(URI, 40, [{ id: "item-9", text: "pass" }]);
  t.changed(URI, 40, 1, ""); // a deletion ends it too
  assert.deepEqual(
    sent.map((event) => [event.item, event.kind]),
    [
      ["item-1", "dismissed"],
      ["item-9", "dismissed"],
    ],
  );
});

test("typing a prefix of the second of two alternatives keeps only it", () => {
  const { sent, tracker: t } = tracker();
  t.shown(URI, 0, [
    { id: "a", text: "return total" },
    { id: "b", text: "raise ValueError" },
  ]);
  t.changed(URI, 0, 0, "ra");
  t.finish();
  assert.deepEqual(sent, [{ item: "b", kind: "partial", accepted: "ra", typed: "" }]);
});
