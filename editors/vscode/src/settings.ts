/**
 * The mapping between VS Code settings (`codegemma.apiKey`, camelCase as VS Code
 * wants) and the language server's settings (`api_key`, snake_case, the names of
 * the `codegemma lsp` CLI flags without dashes).
 *
 * Kept free of the `vscode` module so that it runs under plain `node --test`.
 */

/** Settings the server understands, by their VS Code name under `codegemma.`. */
export const SERVER_KEYS = [
  "backend",
  "url",
  "apiKey",
  "model",
  "adapter",
  "fimFormat",
  "contextTokens",
  "maxTokens",
  "alternatives",
  "mode",
  "hintModel",
  "debounceMs",
  "prefetch",
  "feedbackLog",
] as const;

/** Settings only the extension reads (how to start the server, which files, on/off, snooze length). */
export const CLIENT_KEYS = ["server.command", "server.args", "languages", "enable", "snoozeMinutes"] as const;

/** Setting changes that need a new server process rather than a notification. */
export const RESTART_KEYS: readonly string[] = ["server.command", "server.args", "languages"];

export type ServerSettings = Record<string, string | number | boolean>;

/** `fimFormat` -> `fim_format`: the server's (and the CLI flag's) spelling. */
export function toSnakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (upper) => "_" + upper.toLowerCase());
}

/**
 * The flat object sent as `initializationOptions` and, under the key
 * `codegemma`, in `workspace/didChangeConfiguration`.
 *
 * Unset values (undefined, null, blank strings) are left out so the server
 * applies its own defaults instead of receiving an empty model name or URL.
 */
export function serverSettings(get: (key: string) => unknown): ServerSettings {
  const settings: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    let value = get(key);
    if (typeof value === "string") {
      value = value.trim();
    }
    if (value === undefined || value === null || value === "") {
      continue;
    }
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new Error(`codegemma.${key} must be a string or a number, not ${JSON.stringify(value)}`);
    }
    settings[toSnakeCase(key)] = value;
  }
  return settings;
}

/** Arguments of the server command `codegemma.hint` for a cursor position (0-based, UTF-16). */
export function hintArguments(uri: string, line: number, character: number): unknown[] {
  return [{ textDocument: { uri }, position: { line, character } }];
}

/** Whether `value` already is a `codegemma.hint` argument (`{textDocument: {uri}, position}`). */
export function isHintArgument(value: unknown): boolean {
  const candidate = value as { textDocument?: { uri?: unknown }; position?: { line?: unknown } } | undefined;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    typeof candidate.textDocument?.uri === "string" &&
    typeof candidate.position?.line === "number"
  );
}

/** The other mode, for the toggle command and the status bar. */
export function otherMode(mode: unknown): "complete" | "hint" {
  return mode === "hint" ? "complete" : "hint";
}

export interface Stats {
  shown: number;
  accepted: number;
  requests: number;
  cancelled: number;
  median_latency_ms: number;
}

/** One line for the `codegemma/stats` result, as shown to the user. */
export function formatStats(stats: Stats): string {
  const rate = stats.shown > 0 ? Math.round((100 * stats.accepted) / stats.shown) : 0;
  const latency = Math.round(stats.median_latency_ms);
  return (
    `CodeGemma: ${stats.requests} requests (${stats.cancelled} cancelled), ` +
    `${stats.shown} shown, ${stats.accepted} accepted (${rate}%), median latency ${latency} ms`
  );
}

export interface StatusState {
  mode: string;
  /** `codegemma.enable` for the active editor's language. */
  enabled: boolean;
  globallyEnabled: boolean;
  language: string | undefined;
  running: boolean;
  latencyMs: number | undefined;
  snoozedUntil: Date | undefined;
}

/** The status bar item's text and tooltip (codicons as `$(name)`). */
export function statusText(state: StatusState): { text: string; tooltip: string } {
  const mode = state.mode === "hint" ? " hint" : "";
  if (state.snoozedUntil) {
    const until = state.snoozedUntil.toTimeString().slice(0, 5);
    return { text: `$(clock) CodeGemma: snoozed until ${until}`, tooltip: "Snoozed. Click to turn completions off." };
  }
  if (!state.globallyEnabled) {
    return { text: "$(circle-slash) CodeGemma: off", tooltip: "Completions are off. Click to turn them on." };
  }
  if (!state.enabled) {
    return {
      text: `$(circle-slash) CodeGemma: off for ${state.language}`,
      tooltip: `Completions are off for ${state.language} ("[${state.language}]": {"codegemma.enable": false}).`,
    };
  }
  const icon = state.running ? "$(loading~spin)" : state.mode === "hint" ? "$(question)" : "$(sparkle)";
  const latency = state.latencyMs === undefined ? "" : ` ${Math.round(state.latencyMs)} ms`;
  const waiting = state.running ? " waiting for the model" : "";
  return {
    text: `${icon} CodeGemma${mode}${latency}`,
    tooltip: `CodeGemma mode: ${state.mode}.${waiting} Click to turn completions off.`,
  };
}
