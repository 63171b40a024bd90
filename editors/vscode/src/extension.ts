/**
 * VS Code client for `codegemma lsp`.
 *
 * vscode-languageclient 11 registers `textDocument/inlineCompletion` as a
 * built-in feature, so ghost text, cancellation of stale requests
 * (`$/cancelRequest` when VS Code drops a request) and the accept command of
 * each item come from the library. What this file adds is the glue the
 * library cannot know: our settings under their server names, the hint
 * command filled in from the cursor, a mode toggle, the stats request, the
 * status bar (spinner, latency, on/off, snooze; status.ts) and the fate of each
 * shown suggestion sent as `codegemma/event` (events.ts).
 */

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

import { Candidate, SuggestionTracker } from "./events";
import { RESTART_KEYS, Stats, formatStats, hintArguments, isHintArgument, otherMode, serverSettings } from "./settings";
import { Status } from "./status";

const SECTION = "codegemma";
const HINT_COMMAND = "codegemma.hint";
const ACCEPTED_COMMAND = "codegemma.accepted";
const EVENT_METHOD = "codegemma/event";

let client: LanguageClient | undefined;
let status: Status | undefined;
const tracker = new SuggestionTracker((event) => {
  if (client?.isRunning()) {
    void client.sendNotification(EVENT_METHOD, event);
  }
});

/** The candidates of a completion result, by their accept-command id, for the tracker. */
function candidates(result: vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined): Candidate[] {
  const items = Array.isArray(result) ? result : (result?.items ?? []);
  return items.flatMap((item) => {
    const id = item.command?.command === ACCEPTED_COMMAND ? item.command.arguments?.[0] : undefined;
    const text = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
    return typeof id === "string" ? [{ id, text }] : [];
  });
}

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

function currentSettings() {
  const section = config();
  return serverSettings((key) => section.get(key));
}

/** The contract's arguments for `codegemma.hint` at the active editor's cursor. */
function hintArgumentsFromEditor(): unknown[] | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    return undefined;
  }
  const { line, character } = editor.selection.active;
  return hintArguments(editor.document.uri.toString(), line, character);
}

function clientOptions(): LanguageClientOptions {
  const languages = config().get<string[]>("languages", []);
  const documentSelector = languages.flatMap((language) => [
    { scheme: "file", language },
    { scheme: "untitled", language },
  ]);
  return {
    documentSelector,
    initializationOptions: () => currentSettings(),
    // Lets the library watch the section; the middleware below sends it in the server's names.
    synchronize: { configurationSection: SECTION },
    middleware: {
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!status?.enabled(document.languageId)) {
          return undefined;
        }
        const result = await status.request(async () => await next(document, position, context, token), token);
        if (!token.isCancellationRequested) {
          tracker.shown(document.uri.toString(), document.offsetAt(position), candidates(result));
        }
        return result;
      },
      executeCommand: async (command, args, next) => {
        if (command === ACCEPTED_COMMAND && typeof args[0] === "string") {
          tracker.accepted(args[0]);
        }
        // From the palette or a key binding there are no arguments (a menu may pass a Uri): use the cursor.
        if (command === HINT_COMMAND && !isHintArgument(args[0])) {
          const filled = hintArgumentsFromEditor();
          if (!filled) {
            void vscode.window.showWarningMessage("CodeGemma: open a file and put the cursor in a function first.");
            return undefined;
          }
          args = filled;
        }
        // The server shows the hint itself (window/showMessage); the result is returned for callers.
        return next(command, args);
      },
      workspace: {
        didChangeConfiguration: async () => {
          await client?.sendNotification(DidChangeConfigurationNotification.type, {
            settings: { [SECTION]: currentSettings() },
          });
        },
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result)) {
            return result;
          }
          return params.items.map((item, index) => (item.section === SECTION ? currentSettings() : result[index]));
        },
      },
    },
  };
}

function serverOptions(): ServerOptions {
  const command = config().get<string>("server.command", "codegemma").trim() || "codegemma";
  const args = config().get<string[]>("server.args", ["lsp"]);
  // No `transport`: the library would append `--stdio`, and `codegemma lsp` speaks stdio by default.
  return { command, args, options: { env: process.env } };
}

async function startClient(): Promise<void> {
  client = new LanguageClient("codegemma", "CodeGemma FIM", serverOptions(), clientOptions());
  try {
    await client.start();
  } catch (error) {
    const command = config().get<string>("server.command");
    void vscode.window.showErrorMessage(
      `CodeGemma: could not start \`${command} lsp\` (${error}). Set "codegemma.server.command" to the codegemma executable.`,
    );
  }
}

async function stopClient(): Promise<void> {
  const running = client;
  client = undefined;
  if (running?.isRunning()) {
    await running.stop();
  } else {
    await running?.dispose();
  }
}

/** Where a setting is set now (folder, workspace, user), so a toggle changes the value that is in force. */
function targetOf(inspected: { workspaceFolderValue?: unknown; workspaceValue?: unknown } | undefined) {
  return inspected?.workspaceFolderValue !== undefined
    ? vscode.ConfigurationTarget.WorkspaceFolder
    : inspected?.workspaceValue !== undefined
      ? vscode.ConfigurationTarget.Workspace
      : vscode.ConfigurationTarget.Global;
}

async function toggleMode(): Promise<void> {
  await config().update("mode", otherMode(config().get("mode")), targetOf(config().inspect<string>("mode")));
}

/** Status bar click: ends a snooze, else turns completions on or off everywhere. */
async function toggleEnable(): Promise<void> {
  if (status && !status.enabled(undefined) && config().get<boolean>("enable", true)) {
    status.unsnooze();
    return;
  }
  await config().update("enable", !config().get<boolean>("enable", true), targetOf(config().inspect("enable")));
}

/** Turns completions on or off for the active editor's language (a `"[language]"` user setting). */
async function toggleLanguage(): Promise<void> {
  const languageId = vscode.window.activeTextEditor?.document.languageId;
  if (!languageId) {
    void vscode.window.showWarningMessage("CodeGemma: open a file first; its language is the one toggled.");
    return;
  }
  const scoped = vscode.workspace.getConfiguration(SECTION, { languageId });
  await scoped.update("enable", !scoped.get<boolean>("enable", true), vscode.ConfigurationTarget.Global, true);
}

function snooze(): void {
  const minutes = config().get<number>("snoozeMinutes", 15);
  status?.snooze(minutes);
  void vscode.window.showInformationMessage(`CodeGemma: snoozed for ${minutes} min (click the status bar to resume).`);
}

async function showStats(): Promise<void> {
  if (!client?.isRunning()) {
    void vscode.window.showWarningMessage("CodeGemma: the language server is not running.");
    return;
  }
  // `{}`, not no params: pygls 2 cannot parse a request without a params member and never answers it.
  const stats = await client.sendRequest<Stats>("codegemma/stats", {});
  void vscode.window.showInformationMessage(formatStats(stats));
}

/** Last cursor line sent per document: `codegemma/cursor` goes out when the cursor lands on another line. */
const cursorLines = new Map<string, number>();

/** Tells the server where the cursor is, so it can read the prompt there before a completion is asked for. */
function sendCursor(event: vscode.TextEditorSelectionChangeEvent): void {
  const uri = event.textEditor.document.uri.toString();
  const { line, character } = event.selections[0]?.active ?? event.textEditor.selection.active;
  if (!client?.isRunning() || cursorLines.get(uri) === line) {
    return;
  }
  cursorLines.set(uri, line);
  void client.sendNotification("codegemma/cursor", { textDocument: { uri }, position: { line, character } });
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  status = new Status();
  context.subscriptions.push(
    status,
    vscode.commands.registerCommand("codegemma.toggleMode", toggleMode),
    vscode.commands.registerCommand("codegemma.toggleEnable", toggleEnable),
    vscode.commands.registerCommand("codegemma.toggleLanguage", toggleLanguage),
    vscode.commands.registerCommand("codegemma.snooze", snooze),
    vscode.commands.registerCommand("codegemma.showStats", showStats),
    vscode.window.onDidChangeTextEditorSelection((event) => {
      sendCursor(event);
      const { document } = event.textEditor;
      tracker.moved(document.uri.toString(), document.offsetAt(event.selections[0].active));
    }),
    vscode.workspace.onDidChangeTextDocument((event) => {
      for (const change of event.contentChanges) {
        tracker.changed(event.document.uri.toString(), change.rangeOffset, change.rangeLength, change.text);
      }
    }),
    vscode.window.onDidChangeActiveTextEditor(() => status?.update()),
    vscode.commands.registerCommand("codegemma.restart", async () => {
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) {
        return;
      }
      status?.update();
      // Other keys reach the running server through the didChangeConfiguration middleware.
      if (RESTART_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
        await stopClient();
        await startClient();
      }
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
