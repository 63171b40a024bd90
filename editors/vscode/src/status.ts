/**
 * The status bar item and the on/off state: a spinner while a completion
 * request runs, the last latency, the mode, off / snoozed; a click toggles
 * `codegemma.enable`. `codegemma.enable` is language-overridable, so
 * `"[markdown]": {"codegemma.enable": false}` turns one language off.
 */

import * as vscode from "vscode";

import { statusText } from "./settings";

const SECTION = "codegemma";

export class Status implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("codegemma.status", vscode.StatusBarAlignment.Right, 100);
  private running = 0;
  private latencyMs: number | undefined;
  private snoozedUntil = 0;
  private snoozeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.item.name = "CodeGemma";
    this.item.command = "codegemma.toggleEnable";
    this.update();
    this.item.show();
  }

  /** Whether completions are wanted now for a document of this language. */
  enabled(languageId: string | undefined): boolean {
    if (Date.now() < this.snoozedUntil) {
      return false;
    }
    const scope = languageId ? { languageId } : undefined;
    return vscode.workspace.getConfiguration(SECTION, scope).get<boolean>("enable", true);
  }

  /** Runs one completion request with the spinner shown; records its latency unless it was cancelled. */
  async request<T>(run: () => Promise<T>, token: vscode.CancellationToken): Promise<T> {
    const started = Date.now();
    this.running++;
    this.update();
    try {
      const result = await run();
      if (!token.isCancellationRequested) {
        this.latencyMs = Date.now() - started;
      }
      return result;
    } finally {
      this.running--;
      this.update();
    }
  }

  snooze(minutes: number): void {
    this.snoozedUntil = Date.now() + minutes * 60_000;
    clearTimeout(this.snoozeTimer);
    this.snoozeTimer = setTimeout(() => this.unsnooze(), minutes * 60_000);
    this.update();
  }

  unsnooze(): void {
    this.snoozedUntil = 0;
    clearTimeout(this.snoozeTimer);
    this.update();
  }

  update(): void {
    const language = vscode.window.activeTextEditor?.document.languageId;
    const config = vscode.workspace.getConfiguration(SECTION, language ? { languageId: language } : undefined);
    const { text, tooltip } = statusText({
      mode: config.get<string>("mode", "complete"),
      enabled: config.get<boolean>("enable", true),
      globallyEnabled: vscode.workspace.getConfiguration(SECTION).get<boolean>("enable", true),
      language,
      running: this.running > 0,
      latencyMs: this.latencyMs,
      snoozedUntil: Date.now() < this.snoozedUntil ? new Date(this.snoozedUntil) : undefined,
    });
    this.item.text = text;
    this.item.tooltip = tooltip;
  }

  dispose(): void {
    clearTimeout(this.snoozeTimer);
    this.item.dispose();
  }
}
