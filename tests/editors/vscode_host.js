// A minimal stand-in for the VS Code extension host, to run the packaged
// extension against a language server without VS Code (which cannot be
// downloaded here).
//
//   node vscode_host.js <extension dir> <python file> <scenario.json>
//
// The `vscode` module is replaced by just enough of the API for the extension
// and vscode-languageclient to start a server, register their features and
// answer them; everything not implemented is an inert stand-in. The scenario
// then does what VS Code and a user would: ask the registered inline
// completion provider for items at a position, run the accepted item's
// command, run `codegemma.hint` from the palette (no arguments), change
// `codegemma.mode`, show stats, deactivate. One JSON object with what
// happened goes to stdout.

"use strict";

const Module = require("module");
const fs = require("fs");
const path = require("path");
const url = require("url");

const [extensionDir, documentPath, scenarioPath] = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(scenarioPath, "utf8"));
const report = { messages: [], providers: [], commands: [], log: [] };

// --- inert stand-in for everything not modelled -------------------------------
const inert = new Proxy(function () {}, {
  get: (target, key) => {
    if (key === "then") return undefined; // not a promise: `await inert` must not hang
    if (key === Symbol.iterator) return function* () {};
    if (key === Symbol.toPrimitive) return () => "";
    return inert;
  },
  apply: () => inert,
  construct: () => inert,
});
const withFallback = (object) => new Proxy(object, { get: (t, k) => (k in t ? t[k] : inert) });

// --- values -------------------------------------------------------------------
class Disposable {
  constructor(fn) { this.fn = fn; }
  dispose() { if (this.fn) this.fn(); this.fn = undefined; }
  static from(...items) { return new Disposable(() => items.forEach((d) => d && d.dispose && d.dispose())); }
}
class EventEmitter {
  constructor() {
    this.listeners = new Set();
    this.event = (listener, thisArg, disposables) => {
      const bound = listener.bind(thisArg);
      this.listeners.add(bound);
      const d = new Disposable(() => this.listeners.delete(bound));
      if (Array.isArray(disposables)) disposables.push(d);
      return d;
    };
  }
  fire(value) { for (const l of [...this.listeners]) l(value); }
  dispose() { this.listeners.clear(); }
}
class Uri {
  constructor(scheme, fsPath, raw) { this.scheme = scheme; this.fsPath = fsPath; this.path = fsPath; this.raw = raw; }
  static file(p) { return new Uri("file", p, url.pathToFileURL(p).href); }
  static parse(s) { return s.startsWith("file:") ? Uri.file(url.fileURLToPath(s)) : new Uri(s.split(":")[0], s, s); }
  toString() { return this.raw; }
  toJSON() { return this.raw; }
  with() { return this; }
}
class Position { constructor(line, character) { this.line = line; this.character = character; } }
class Range {
  constructor(a, b, c, d) {
    if (typeof a === "number") { this.start = new Position(a, b); this.end = new Position(c, d); }
    else { this.start = a; this.end = b; }
  }
}
class InlineCompletionItem { constructor(insertText, range, command) { Object.assign(this, { insertText, range, command }); } }
class InlineCompletionList { constructor(items) { this.items = items; } }
class SnippetString { constructor(value) { this.value = value; } }
class CancellationError extends Error {}
class CancellationTokenSource {
  constructor() {
    const emitter = new EventEmitter();
    this.token = { isCancellationRequested: false, onCancellationRequested: emitter.event };
    this.cancel = () => { this.token.isCancellationRequested = true; emitter.fire(); };
    this.dispose = () => emitter.dispose();
  }
}

// --- the open document and the editor ----------------------------------------
const text = fs.readFileSync(documentPath, "utf8");
const document = {
  uri: Uri.file(documentPath), fileName: documentPath, languageId: "python", version: 1, isClosed: false,
  isUntitled: false, isDirty: false, eol: 1, lineCount: text.split("\n").length,
  getText: () => text,
  offsetAt: (position) =>
    text.split("\n").slice(0, position.line).reduce((sum, line) => sum + line.length + 1, 0) + position.character,
};
const cursor = new Position(scenario.line, scenario.character);
const editor = { document, selection: { active: cursor, anchor: cursor, start: cursor, end: cursor } };

// --- configuration -------------------------------------------------------------
const manifest = JSON.parse(fs.readFileSync(path.join(extensionDir, "package.json"), "utf8"));
const settings = {};
for (const [key, spec] of Object.entries(manifest.contributes.configuration.properties)) settings[key] = spec.default;
Object.assign(settings, scenario.settings || {});
const onDidChangeConfiguration = new EventEmitter();
function getConfiguration(section) {
  const full = (key) => (section ? `${section}.${key}` : key);
  return {
    get: (key, fallback) => (settings[full(key)] !== undefined ? settings[full(key)] : fallback),
    has: (key) => full(key) in settings,
    inspect: (key) => ({ key: full(key), globalValue: settings[full(key)] }),
    update: async (key, value) => {
      settings[full(key)] = value;
      onDidChangeConfiguration.fire({ affectsConfiguration: (s) => full(key) === s || full(key).startsWith(s + ".") });
    },
  };
}

// --- the API -------------------------------------------------------------------
const commands = new Map();
const providers = {};
const say = (level) => async (message) => { report.messages.push({ level, message: String(message) }); return undefined; };
const outputChannel = withFallback({
  name: "output",
  appendLine: (line) => report.log.push(String(line)),
  append: (line) => report.log.push(String(line)),
  info: (line) => report.log.push(String(line)), warn: (line) => report.log.push(String(line)),
  error: (line) => report.log.push(String(line)), debug: () => {}, trace: () => {},
  show: () => {}, clear: () => {}, dispose: () => {}, replace: () => {},
  onDidChangeLogLevel: new EventEmitter().event, logLevel: 3,
});

const vscode = withFallback({
  version: "1.91.0",
  Disposable, EventEmitter, Uri, Position, Range, InlineCompletionItem, InlineCompletionList, SnippetString,
  CancellationError, CancellationTokenSource,
  InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  env: withFallback({ appName: "vscode_host", language: "en", machineId: "test", sessionId: "test" }),
  commands: withFallback({
    registerCommand: (id, fn) => {
      if (commands.has(id)) throw new Error(`command '${id}' already exists`);
      commands.set(id, fn);
      report.commands.push(id);
      return new Disposable(() => commands.delete(id));
    },
    executeCommand: async (id, ...args) => {
      if (!commands.has(id)) throw new Error(`command '${id}' not found`);
      return commands.get(id)(...args);
    },
  }),
  languages: new Proxy({
    match: (selector, doc) => {
      const filters = Array.isArray(selector) ? selector : [selector];
      return filters.some((f) => (typeof f === "string" ? f === doc.languageId :
        (!f.language || f.language === doc.languageId) && (!f.scheme || f.scheme === doc.uri.scheme))) ? 10 : 0;
    },
  }, {
    get: (target, key) => {
      if (key in target) return target[key];
      if (typeof key === "string" && key.startsWith("register")) {
        return (selector, provider) => {
          providers[key] = provider;
          report.providers.push(key);
          return new Disposable(() => delete providers[key]);
        };
      }
      return inert;
    },
  }),
  window: withFallback({
    activeTextEditor: editor,
    visibleTextEditors: [editor],
    tabGroups: withFallback({ all: [] }),
    onDidChangeActiveTextEditor: new EventEmitter().event,
    onDidChangeVisibleTextEditors: new EventEmitter().event,
    createOutputChannel: () => outputChannel,
    createStatusBarItem: () => withFallback({ show: () => {}, hide: () => {}, dispose: () => {} }),
    showInformationMessage: say("info"),
    showWarningMessage: say("warning"),
    showErrorMessage: say("error"),
    withProgress: (options, task) => task({ report: () => {} }, new CancellationTokenSource().token),
  }),
  workspace: withFallback({
    textDocuments: [document],
    notebookDocuments: [],
    workspaceFolders: undefined,
    getConfiguration,
    onDidChangeConfiguration: onDidChangeConfiguration.event,
    onDidOpenTextDocument: new EventEmitter().event,
    onDidCloseTextDocument: new EventEmitter().event,
    onDidChangeTextDocument: new EventEmitter().event,
    onDidSaveTextDocument: new EventEmitter().event,
    onWillSaveTextDocument: new EventEmitter().event,
    onDidChangeWorkspaceFolders: new EventEmitter().event,
    applyEdit: async () => true,
  }),
});

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === "vscode" ? "vscode" : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: vscode };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const plainRange = (r) => r && { start: { line: r.start.line, character: r.start.character },
  end: { line: r.end.line, character: r.end.character } };

async function main() {
  const extension = require(path.join(extensionDir, "out", "extension.js"));
  const context = withFallback({ subscriptions: [], extensionPath: extensionDir, extension: { packageJSON: manifest } });
  await extension.activate(context);

  const provider = providers.registerInlineCompletionItemProvider;
  if (provider && scenario.inline !== false) {
    const token = new CancellationTokenSource().token;
    const result = await provider.provideInlineCompletionItems(document, cursor,
      { triggerKind: 1, selectedCompletionInfo: undefined }, token);
    const items = result ? (Array.isArray(result) ? result : result.items) : [];
    report.items = items.map((item) => ({ insertText: item.insertText, range: plainRange(item.range),
      command: item.command && { command: item.command.command, arguments: item.command.arguments } }));
    // VS Code runs the item's command when the user accepts it.
    const accepted = items[0] && items[0].command;
    if (accepted) await vscode.commands.executeCommand(accepted.command, ...(accepted.arguments || []));
  }
  if (scenario.hint !== false) report.hint = await vscode.commands.executeCommand("codegemma.hint");
  await vscode.commands.executeCommand("codegemma.toggleMode");
  await vscode.commands.executeCommand("codegemma.showStats");
  await sleep(300); // notifications from the server (showMessage) arrive asynchronously
  await extension.deactivate();
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().then(() => process.exit(0), (error) => {
  report.error = String(error && error.stack || error);
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(1);
});
