/**
 * What became of a shown inline suggestion, as `codegemma/event` reports it
 * (lsp/protocol.py SuggestionEvent): accepted whole (the item's
 * `codegemma.accepted` command ran), partial (some of it was kept: VS Code's
 * acceptNextWord / acceptNextLine, or typing the same characters), dismissed
 * (the cursor left, Escape, a new request elsewhere), typed over (the first
 * characters typed differ from every candidate).
 *
 * The stable VS Code API (1.91) has no partial-accept or dismiss callback, so
 * this follows the document: insertions at the suggestion's position that
 * extend what was kept. Kept free of the `vscode` module so that it runs under
 * plain `node --test`.
 */

export type EventKind = "accepted" | "partial" | "dismissed" | "typed_over";

export interface SuggestionEvent {
  item: string;
  kind: EventKind;
  accepted: string;
  typed: string;
}

export interface Candidate {
  /** The id in the item's `codegemma.accepted` command arguments. */
  id: string;
  text: string;
}

interface Pending {
  uri: string;
  /** Document offset of the suggestion's start. */
  offset: number;
  candidates: Candidate[];
  /** Characters inserted at the suggestion since it was shown (a prefix of some candidate). */
  kept: string;
}

export class SuggestionTracker {
  private pending: Pending | undefined;

  constructor(private readonly send: (event: SuggestionEvent) => void) {}

  /** Candidates returned for a request at `offset`; an earlier suggestion ends first. */
  shown(uri: string, offset: number, candidates: Candidate[]): void {
    const current = this.pending;
    if (current && current.uri === uri && offset === current.offset + current.kept.length) {
      // VS Code asks again after a partial accept: the same suggestion continues if the rest still matches.
      const continuing = candidates.some((candidate) =>
        current.candidates.some((old) => old.text === current.kept + candidate.text),
      );
      if (continuing) {
        return;
      }
    }
    this.finish();
    if (candidates.length) {
      this.pending = { uri, offset, candidates, kept: "" };
    }
  }

  /** The item command ran: the whole item was accepted. */
  accepted(id: string): void {
    const candidate = this.pending?.candidates.find((item) => item.id === id);
    this.pending = undefined;
    this.send({ item: id, kind: "accepted", accepted: candidate?.text ?? "", typed: "" });
  }

  /** A document edit: `text` replaced `deleted` characters at `offset`. */
  changed(uri: string, offset: number, deleted: number, text: string): void {
    const current = this.pending;
    if (!current || current.uri !== uri) {
      return;
    }
    const end = current.offset + current.kept.length;
    if (offset !== end || deleted !== 0) {
      this.finish();
      return;
    }
    const kept = current.kept + text;
    const matching = current.candidates.filter((candidate) => candidate.text.startsWith(kept));
    if (matching.length) {
      current.kept = kept;
      current.candidates = matching;
      return;
    }
    if (current.kept) {
      this.finish();
    } else {
      this.pending = undefined;
      this.send({ item: current.candidates[0].id, kind: "typed_over", accepted: "", typed: text });
    }
  }

  /** The cursor moved: the suggestion ends unless the cursor is where the kept text ends. */
  moved(uri: string, offset: number): void {
    const current = this.pending;
    if (current && (current.uri !== uri || offset !== current.offset + current.kept.length)) {
      this.finish();
    }
  }

  /** Ends the current suggestion: partial if something was kept, dismissed otherwise. */
  finish(): void {
    const current = this.pending;
    this.pending = undefined;
    if (!current) {
      return;
    }
    const item = current.candidates[0].id;
    if (current.kept) {
      this.send({ item, kind: "partial", accepted: current.kept, typed: "" });
    } else {
      this.send({ item, kind: "dismissed", accepted: "", typed: "" });
    }
  }
}
