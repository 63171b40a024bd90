"""A simulated user who types real files through the language server: accept, type over, learn (issue #18).

  python -m evals.simulated_user --out runs/simuser                       # full run, bundled model (see README)
  python -m evals.simulated_user --out runs/simuser --train-files 2 --test-files 2 --lines 6 --max-steps 2  # tiny

What happens:

1. Files are drawn (seeded) from a source tree nobody here wrote (default: this
   Python's standard library) and split into a training set and a held-out set.
2. For each file a block of `--lines` consecutive lines inside function bodies
   is removed; the simulated user retypes it line by line in `codegemma lsp`
   (a subprocess over stdio, `--feedback-log` on). At the start of each line
   (after its indentation) it asks for an inline completion. If the suggestion
   is exactly what comes next, it accepts it (`codegemma.accepted` and a
   `codegemma/event`); if only its first line is, it accepts that line (a
   "partial" event); otherwise it types the true line over it. The server
   sees typed-over lines itself in didChange.
3. The training files' log becomes pairs (`codegemma feedback pairs`) and an
   ORPO adapter (`codegemma train --method orpo`).
4. The held-out files are replayed with the base model and with the adapter:
   the same positions with the same document text, so every suggestion is
   paired. Reported: acceptance rate and accepted characters per suggestion,
   with an exact sign test (McNemar) on the acceptances and a paired bootstrap
   interval on the characters.

Everything goes to OUT: the three feedback logs (readable with `codegemma
feedback stats --log OUT/<name>.jsonl`), pairs/, adapter/, and results.json.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.errors import EvalError
from evals.sources import body_lines, source_files, stdlib_root

ACCEPTED_COMMAND = "codegemma.accepted"
EVENT_METHOD = "codegemma/event"
#: Lines whose content is shorter than this are typed without asking (`)`, `else:`, ...).
MIN_LINE_CHARS = 4


@dataclass(frozen=True)
class Block:
    """A stretch of a file the user retypes: `lines[start:end]` of `path`."""

    path: str
    lines: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Outcome:
    """One suggestion: where, what, and what the user did with it."""

    where: str
    suggestion: str
    kind: str  # "accepted", "partial", "typed_over" or "none" (no suggestion)
    accepted_chars: int


def pick_blocks(count: int, lines: int, seed: int, root: Path | None = None, skip: int = 0) -> list[Block]:
    """`count` blocks of `lines` lines from distinct files, each starting at a statement in a function body.

    Files are shuffled with `seed`; the first `skip` usable files are passed over
    (so a training and a held-out set drawn with the same seed never share a file).
    """
    root = root or stdlib_root()
    files = source_files(root)
    random.Random(seed).shuffle(files)
    blocks: list[Block] = []
    usable = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            starts = body_lines(ast.parse(text))
        except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
            continue
        split = text.splitlines(keepends=True)
        starts = [s for s in starts if s + lines <= len(split) and sum(len(x.strip()) >= MIN_LINE_CHARS
                                                                      for x in split[s : s + lines]) >= lines // 2]  # fmt: skip
        if not starts or len(text) > 200_000:
            continue
        usable += 1
        if usable <= skip:
            continue
        start = random.Random(f"{seed}:{path.name}").choice(starts)
        blocks.append(Block(str(path.relative_to(root)), tuple(split), start, start + lines))
        if len(blocks) == count:
            return blocks
    raise EvalError(f"found only {len(blocks)} of {count} usable files under {root}")


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Typist:
    """Retypes blocks through one `codegemma lsp` process (evals.lsp_wire.WireClient)."""

    def __init__(self, flags: list[str], log: Path, timeout: float = 120.0, stderr: Any = None) -> None:
        from evals.lsp_wire import WireClient

        self.client = WireClient("--no-prefetch", "--feedback-log", *flags, stderr=stderr,
                                 env={"CODEGEMMA_FEEDBACK_LOG": str(log)})  # fmt: skip
        # The initialize answer waits for the server's imports: generous, for a loaded machine.
        self.client.call("initialize", {"capabilities": {}, "rootUri": "file:///simuser"}, timeout=300)
        self.client.notify("initialized", {})
        self.timeout = timeout
        #: The first request also waits for the model to load (minutes for the bundled one on a busy machine).
        self.first_timeout = max(timeout, 900.0)
        self.version = 1

    def close(self) -> None:
        self.client.call("shutdown", timeout=60)
        self.client.notify("exit")
        self.client.close(timeout=30)

    def _insert(self, uri: str, line: int, col: int, text: str) -> None:
        self.version += 1
        here = {"line": line, "character": col}
        self.client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": self.version},
                                                      "contentChanges": [{"range": {"start": here, "end": here},
                                                                          "text": text}]})  # fmt: skip

    def _suggest(self, uri: str, line: int, col: int) -> tuple[str, Any]:
        answer = self.client.call("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": col},
            "context": {"triggerKind": 2}}, timeout=self.first_timeout)  # fmt: skip
        self.first_timeout = self.timeout
        if "error" in answer:
            raise EvalError(f"the language server answered an error: {answer['error']}")
        items = (answer.get("result") or {}).get("items") or []
        if not items or not items[0].get("insertText"):
            return "", None
        item = items[0]
        return item["insertText"], (item.get("command") or {}).get("arguments", [None])[0]

    def replay(self, block: Block) -> list[Outcome]:
        """Type `block` line by line; one suggestion asked at each line's start."""
        uri = f"file:///simuser/{block.path}"
        before, after = block.lines[: block.start], block.lines[block.end :]
        self.client.open(uri, "".join(before) + "".join(after))
        outcomes = []
        row = len(before)
        for true in block.lines[block.start : block.end]:
            indent = true[: len(true) - len(true.lstrip(" \t"))]
            content = true[len(indent) :]
            self._insert(uri, row, 0, indent)
            col = utf16(indent)
            if len(content.strip()) < MIN_LINE_CHARS:
                self._insert(uri, row, col, content)
                row += 1
                continue
            suggestion, item = self._suggest(uri, row, col)
            outcomes.append(self._respond(uri, row, col, content, suggestion, item, block.path))
            row += 1
        self.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        return outcomes

    def _respond(self, uri: str, row: int, col: int, content: str, suggestion: str, item: Any,
                 path: str) -> Outcome:  # fmt: skip
        """Accept what matches what comes next on this line, type the rest; the line ends as `content` either way.

        A single-line suggestion that the line goes on with is accepted whole; of a
        multi-line one whose first line does, that line is accepted ("partial"),
        as with an editor's accept-line key. So the document at every line start
        is the same whatever was suggested, and two runs pair position by position.
        """
        line_text = content.rstrip("\r\n")
        body = suggestion.rstrip("\n")
        first = body.split("\n", 1)[0]
        if body.strip() and "\n" not in body and line_text.startswith(body):
            kind, kept = "accepted", body
            self.client.request("workspace/executeCommand", {"command": ACCEPTED_COMMAND, "arguments": [item]})
            self.client.notify(EVENT_METHOD, {"item": item, "kind": "accepted", "accepted": kept})
        elif "\n" in body and first.strip() and line_text.startswith(first):
            kind, kept = "partial", first
            self.client.notify(EVENT_METHOD, {"item": item, "kind": "partial", "accepted": kept})
        else:
            kind, kept = ("typed_over" if suggestion else "none"), ""
        if kept:
            self._insert(uri, row, col, kept)
        self._insert(uri, row, col + utf16(kept), content[len(kept) :])
        return Outcome(f"{path}:{row + 1}", suggestion, kind, len(kept))


def replay_all(blocks: list[Block], flags: list[str], log: Path) -> list[Outcome]:
    typist = Typist(flags, log)
    try:
        return [o for block in blocks for o in typist.replay(block)]
    except AssertionError as exc:  # evals.lsp_wire: no answer in time, or the server exited
        raise EvalError(f"codegemma lsp: {exc}") from None
    finally:
        if typist.client.alive:
            typist.close()


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of `wins` vs `losses` discordant pairs (McNemar's exact test)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_interval(diffs: list[float], seed: int = 0, rounds: int = 2000) -> tuple[float, float]:
    """95% paired bootstrap interval of the mean of `diffs`."""
    if not diffs:
        return (0.0, 0.0)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(rounds))
    return (round(means[int(0.025 * rounds)], 3), round(means[int(0.975 * rounds) - 1], 3))


def compare(base: list[Outcome], tuned: list[Outcome]) -> dict[str, Any]:
    """Paired figures over the positions both runs asked at (all of them, when the runs agree)."""
    by_where = {o.where: o for o in tuned}
    pairs = [(b, by_where[b.where]) for b in base if b.where in by_where]
    if not pairs:
        raise EvalError("the two replays share no suggestion positions")

    def side(outcomes: list[Outcome]) -> dict[str, Any]:
        accepted = sum(o.kind in ("accepted", "partial") for o in outcomes)
        return {"suggestions": len(outcomes), "accepted": accepted,
                "acceptance_rate": round(accepted / len(outcomes), 4),
                "accepted_chars_per_suggestion": round(sum(o.accepted_chars for o in outcomes) / len(outcomes), 3),
                "kinds": {k: sum(o.kind == k for o in outcomes) for k in ("accepted", "partial", "typed_over", "none")}}  # fmt: skip

    wins = sum(t.accepted_chars > 0 and b.accepted_chars == 0 for b, t in pairs)
    losses = sum(b.accepted_chars > 0 and t.accepted_chars == 0 for b, t in pairs)
    diffs = [t.accepted_chars - b.accepted_chars for b, t in pairs]
    return {"paired_suggestions": len(pairs), "base": side([b for b, _ in pairs]), "orpo": side([t for _, t in pairs]),
            "acceptance": {"orpo_only": wins, "base_only": losses, "sign_test_p": round(sign_test(wins, losses), 4)},
            "accepted_chars_diff": {"mean": round(sum(diffs) / len(diffs), 3),
                                    "bootstrap_95": bootstrap_interval(diffs)}}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.simulated_user", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="directory for the logs, pairs, adapter and results")
    parser.add_argument("--model", default=None, help="model for the server and training (default: the bundled one)")
    parser.add_argument("--root", type=Path, default=None, help="source tree to draw files from (default: the stdlib)")
    parser.add_argument("--train-files", type=int, default=24, help="files whose log trains the adapter (default: 24)")
    parser.add_argument("--test-files", type=int, default=16, help="held-out files replayed twice (default: 16)")
    parser.add_argument("--lines", type=int, default=20, help="lines retyped per file (default: 20)")
    parser.add_argument("--seed", type=int, default=0, help="file choice (default: 0)")
    parser.add_argument("--max-tokens", type=int, default=48, help="most tokens per suggestion (default: 48)")
    parser.add_argument("--context-tokens", type=int, default=512,
                        help="prompt budget of the server and of the training prompts (default: 512)")  # fmt: skip
    parser.add_argument("--max-steps", type=int, default=None, help="ORPO optimizer steps (default: one epoch)")
    parser.add_argument("--epochs", type=float, default=2.0, help="ORPO passes over the pairs (default: 2)")
    parser.add_argument("--learning-rate", type=float, default=None, help="ORPO learning rate (default: training.orpo)")
    parser.add_argument("--min-suggestions", type=int, default=0,
                        help="fail unless the held-out replay pairs at least this many suggestions (default: 0)")  # fmt: skip
    args = parser.parse_args(argv)
    for name in ("train_files", "test_files", "lines", "max_tokens", "context_tokens"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    from engine.cpu import describe_cpu
    from training.config import TrainConfig
    from training.errors import TrainingError
    from training.feedback_data import preference_pairs, read_log, write_pairs
    from training.orpo import train_orpo

    args = parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        flags = ["--max-tokens", str(args.max_tokens), "--context-tokens", str(args.context_tokens)]
        flags += ["--model", args.model] if args.model else []
        train = pick_blocks(args.train_files, args.lines, args.seed, args.root)
        test = pick_blocks(args.test_files, args.lines, args.seed, args.root, skip=args.train_files)
        started = time.time()
        train_log = args.out / "train-log.jsonl"
        for stale in args.out.glob("*-log.jsonl*"):
            stale.unlink()
        trained = replay_all(train, flags, train_log)
        print(f"training replay: {len(trained)} suggestions in {time.time() - started:.0f} s", file=sys.stderr)
        rows = preference_pairs(read_log(train_log))
        pairs_dir, adapter = args.out / "pairs", args.out / "adapter"
        for old in (pairs_dir, adapter):
            if old.exists():
                import shutil

                shutil.rmtree(old)
        write_pairs(rows, pairs_dir)
        config = TrainConfig.build({}, max_steps=args.max_steps, epochs=args.epochs, grad_accum=4, warmup_steps=2,
                                   learning_rate=args.learning_rate or 1e-4, save_every=50, seed=args.seed)  # fmt: skip
        result = train_orpo(config, pairs_dir, args.model, adapter, max_prompt_tokens=args.context_tokens,
                            progress=False)  # fmt: skip
        print(f"ORPO: {len(rows)} pairs, {result.steps} steps, last loss {result.loss}", file=sys.stderr)
        base = replay_all(test, flags, args.out / "base-log.jsonl")
        tuned = replay_all(test, [*flags, "--adapter", str(adapter)], args.out / "orpo-log.jsonl")
    except TrainingError as exc:
        raise EvalError(str(exc)) from None
    figures = compare(base, tuned)
    report = {"command": " ".join(["python -m evals.simulated_user", *(argv if argv is not None else sys.argv[1:])]),
              "cpu": describe_cpu(), "seconds": round(time.time() - started), "train_suggestions": len(trained),
              "pairs": len(rows), "orpo_steps": result.steps, "train_files": [b.path for b in train],
              "test_files": [b.path for b in test], **figures,
              "outcomes": {"base": [asdict(o) for o in base], "orpo": [asdict(o) for o in tuned]}}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    b, t = figures["base"], figures["orpo"]
    print(f"{figures['paired_suggestions']} paired suggestions on {len(test)} held-out files: acceptance "
          f"{100 * b['acceptance_rate']:.1f}% -> {100 * t['acceptance_rate']:.1f}% (sign test p="
          f"{figures['acceptance']['sign_test_p']}), accepted chars/suggestion {b['accepted_chars_per_suggestion']} -> "
          f"{t['accepted_chars_per_suggestion']} (paired mean diff 95% {figures['accepted_chars_diff']['bootstrap_95']});"
          f" {args.out / 'results.json'}")  # fmt: skip
    if figures["paired_suggestions"] < args.min_suggestions:
        raise EvalError(f"only {figures['paired_suggestions']} paired suggestions; asked for {args.min_suggestions}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EvalError as exc:
        print(f"simulated_user: error: {exc}", file=sys.stderr)
        sys.exit(2)
