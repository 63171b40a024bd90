/**
 * The settings glue, under `node --test` (no VS Code needed): what the
 * server receives must use the contract's names, and every setting the
 * extension declares must either reach the server or be read by the client.
 */

import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import {
  CLIENT_KEYS,
  SERVER_KEYS,
  formatStats,
  hintArguments,
  isHintArgument,
  otherMode,
  serverSettings,
  statusText,
  toSnakeCase,
} from "../settings";

/** The server's settings, as `lsp_contract` (and the `codegemma lsp` flags) name them. */
const CONTRACT_KEYS = [
  "backend",
  "url",
  "api_key",
  "model",
  "adapter",
  "fim_format",
  "context_tokens",
  "max_tokens",
  "alternatives",
  "mode",
  "hint_model",
  "debounce_ms",
  "prefetch",
  "feedback_log",
];

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
const declared: Record<string, { default?: unknown }> = manifest.contributes.configuration.properties;

test("server keys map onto the contract's snake_case names", () => {
  assert.deepEqual(SERVER_KEYS.map(toSnakeCase).sort(), [...CONTRACT_KEYS].sort());
});

test("every declared setting is either sent to the server or read by the client", () => {
  const known = [...SERVER_KEYS, ...CLIENT_KEYS].map((key) => `codegemma.${key}`).sort();
  assert.deepEqual(Object.keys(declared).sort(), known);
});

test("defaults produce settings the server accepts", () => {
  const defaults = serverSettings((key) => declared[`codegemma.${key}`].default);
  assert.deepEqual(defaults, {
    backend: "local",
    context_tokens: 1024,
    max_tokens: 64,
    alternatives: 3,
    mode: "complete",
    prefetch: true,
    feedback_log: false,
  });
});

test("blank and unset values are left to the server's defaults", () => {
  const values: Record<string, unknown> = { url: "  ", model: "", apiKey: null, mode: "hint", maxTokens: 16 };
  assert.deepEqual(
    serverSettings((key) => values[key]),
    { mode: "hint", max_tokens: 16 },
  );
});

test("strings are trimmed and passed through", () => {
  const values: Record<string, unknown> = { backend: "openai", url: " http://127.0.0.1:8012 ", apiKey: "k" };
  assert.deepEqual(serverSettings((key) => values[key]), {
    backend: "openai",
    url: "http://127.0.0.1:8012",
    api_key: "k",
  });
});

test("a setting of the wrong shape is an error naming it", () => {
  assert.throws(() => serverSettings((key) => (key === "model" ? ["a"] : undefined)), /codegemma\.model/);
});

test("hint arguments follow the contract", () => {
  assert.deepEqual(hintArguments("file:///a.py", 3, 7), [
    { textDocument: { uri: "file:///a.py" }, position: { line: 3, character: 7 } },
  ]);
});

test("explicit hint arguments are kept, anything else is replaced by the cursor's", () => {
  assert.equal(isHintArgument(hintArguments("file:///a.py", 0, 0)[0]), true);
  assert.equal(isHintArgument(undefined), false);
  assert.equal(isHintArgument({ scheme: "file", path: "/a.py" }), false); // a Uri from a menu
  assert.equal(isHintArgument({ textDocument: { uri: "file:///a.py" } }), false);
});

test("mode toggles between complete and hint", () => {
  assert.equal(otherMode("complete"), "hint");
  assert.equal(otherMode("hint"), "complete");
  assert.equal(otherMode(undefined), "hint");
});

test("stats line shows the acceptance rate", () => {
  const line = formatStats({ shown: 4, accepted: 1, requests: 9, cancelled: 3, median_latency_ms: 812.4 });
  assert.match(line, /9 requests \(3 cancelled\), 4 shown, 1 accepted \(25%\), median latency 812 ms/);
  assert.match(formatStats({ shown: 0, accepted: 0, requests: 0, cancelled: 0, median_latency_ms: 0 }), /\(0%\)/);
});

test("status bar text: spinner while waiting, last latency, hint mode, off, off for a language, snoozed", () => {
  const base = {
    mode: "complete",
    enabled: true,
    globallyEnabled: true,
    language: "python",
    running: false,
    latencyMs: undefined,
    snoozedUntil: undefined,
  };
  assert.equal(statusText(base).text, "$(sparkle) CodeGemma");
  assert.equal(statusText({ ...base, running: true, latencyMs: 80 }).text, "$(loading~spin) CodeGemma 80 ms");
  assert.equal(statusText({ ...base, mode: "hint", latencyMs: 123.4 }).text, "$(question) CodeGemma hint 123 ms");
  assert.equal(statusText({ ...base, globallyEnabled: false, enabled: false }).text, "$(circle-slash) CodeGemma: off");
  assert.equal(statusText({ ...base, enabled: false }).text, "$(circle-slash) CodeGemma: off for python");
  const until = new Date(2026, 0, 1, 9, 5);
  assert.equal(statusText({ ...base, snoozedUntil: until }).text, "$(clock) CodeGemma: snoozed until 09:05");
});
