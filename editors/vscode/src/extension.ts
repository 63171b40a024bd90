/**
 * VS Code client for `codegemma lsp`.
 *
 * vscode-languageclient 11 registers `textDocument/inlineCompletion` as a
 * built-in feature, so ghost text, cancellation of stale requests
 * (`$/cancelRequest` when VS Code drops a request) and the accept command of
 * each item come from the library. What this file adds is the glue the
 * library cannot know: our settings under their server names, the hint
 * command filled in from the cursor, a mode toggle, and the stats request.
 */

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

import { RESTART_KEYS, Stats, formatStats, hintArguments, isHintArgument, otherMode, serverSettings } from "./settings";

const SECTION = "codegemma";
const HINT_COMMAND = "codegemma.hint";

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem | undefined;

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
      executeCommand: async (command, args, next) => {
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

function updateStatus(): void {
  if (!statusItem) {
    return;
  }
  const mode = config().get<string>("mode", "complete");
  statusItem.text = mode === "hint" ? "$(question) CodeGemma: hint" : "$(sparkle) CodeGemma";
  statusItem.tooltip = `CodeGemma mode: ${mode}. Click to switch to ${otherMode(mode)}.`;
}

async function toggleMode(): Promise<void> {
  const inspected = config().inspect<string>("mode");
  const target =
    inspected?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await config().update("mode", otherMode(config().get("mode")), target);
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
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = "codegemma.toggleMode";
  updateStatus();
  statusItem.show();
  context.subscriptions.push(
    statusItem,
    vscode.commands.registerCommand("codegemma.toggleMode", toggleMode),
    vscode.commands.registerCommand("codegemma.showStats", showStats),
    vscode.window.onDidChangeTextEditorSelection(sendCursor),
    vscode.commands.registerCommand("codegemma.restart", async () => {
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) {
        return;
      }
      updateStatus();
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
