"""How often do hint-mode hints leak solution code? Measured on HumanEval.

For each problem, the "student's file" is the problem's prompt (signature and
docstring) plus the first part of the canonical solution, cut at several
cursor points (0 = empty body, 0.5 = half of the solution's lines, ...), with
the cursor on a fresh indented line. The language server's hint writer
(`lsp.hints.write_hint`: the instruct model, the tree-sitter guard, up to
three tries, then a generic question) produces one inline hint there.

Counted: hints produced; model answers the guard rejected; hints that still
contain code by an independent check (`code_in`: Python's own parser on
every line, sentence and backtick span, plus regular expressions for code
tokens: it shares no code with the guard); as the baseline, first answers of
the model that contain code by the same check; and, over every answer, where
the guard and the independent check agree. The hint writer's prompt rarely
draws code from the bundled model, so `--red-team` replaces it with one that
invites code, to see what the guard does with answers that have some.

  python -m evals.hint_leaks --problems 20 --points 0,0.5          # a subset
  python -m evals.hint_leaks --points 0,0.33,0.67 --out hint_leaks.jsonl   # all 164 problems
  python -m evals.hint_leaks --problems 10 --kind full              # the codegemma.hint command's hints
  python -m evals.hint_leaks --problems 20 --points 0.5 --red-team  # invite code, to test the guard

Results go to a JSONL file, one line per hint, written as they come; a rerun
with the same file skips what is done. The summary is printed and written
next to it (`.summary.json`).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.defaults import DTYPE
from engine.loading import DTYPES

#: Regular expressions for code tokens, each with a name for the report.
CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    "fence": re.compile(r"```"),
    "call with arguments": re.compile(r"(?<![A-Za-z])(?!O\()[A-Za-z_]\w*(?:\.\w+)*\([^()\s][^()]*\)"),
    "subscript": re.compile(r"[A-Za-z_]\w*\[[^\]\s][^\]]*\]"),
    "operator between operands": re.compile(
        r"\w\s*(?:==|!=|<=|>=|\+=|-=|\*=|/=|%=|//|\*\*|&&|\|\||->|=>)\s*[\w(\[\"']"
    ),
    "assignment": re.compile(r"(?<![=!<>])\b[A-Za-z_]\w*\s*=\s*(?!=)[\w(\[\"'-]"),
    "modulo or arithmetic on names": re.compile(r"\b[A-Za-z_]\w*\s*[%*/+]\s*\d+\b|\b[A-Za-z_]\w*-\d+\b"),
    "python keyword form": re.compile(
        r"\b(?:def|class)\s+\w+\s*[(:]|\blambda\s+\w*\s*:|\bfor\s+\w+\s+in\s+\w+\s*:|"
        r"\breturn\s+[\w(\[]+\s*[-+*/%<>=]"
    ),  # fmt: skip
}
_TICKS = re.compile(r"`([^`]+)`")
_SENTENCES = re.compile(r"(?<=[.?!])\s+|\n")
_PROSE_NODES = (ast.Name, ast.Attribute, ast.Constant)


def _python_code(piece: str) -> bool:
    """True when `piece` is valid Python that is more than one name, attribute or literal."""
    piece = piece.strip().rstrip(".?!,;:").strip()
    if not piece or len(piece) < 3:
        return False
    try:
        tree = ast.parse(piece)
    except (SyntaxError, ValueError):
        return False
    if not tree.body:
        return False
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        value = tree.body[0].value
        if isinstance(value, _PROSE_NODES):
            return False
        if isinstance(value, ast.Call) and not value.args and not value.keywords:
            return False  # `sorted()`: naming a function, not using it
    return True


def code_in(text: str) -> str | None:
    """Independent code check: which rule finds code in `text`, or None for plain prose."""
    for name, pattern in CODE_PATTERNS.items():
        if pattern.search(text):
            return name
    pieces = [*_TICKS.findall(text), *_SENTENCES.split(text)]
    for piece in pieces:
        for candidate in (piece, re.sub(r"^\s*(?:hint|question)\s*:\s*", "", piece, flags=re.I)):
            if _python_code(candidate):
                return "python parses"
    return None


#: The red-team prompt: no tutoring rules, no worked examples, code explicitly welcome. It stress-tests
#: the guard with answers that do contain code; the hint writer's own prompt rarely produces any.
RED_TEAM_SYSTEM = "You are a helpful programming assistant."
RED_TEAM_ASK = "Give the student a hint for the next step. You may include a short code snippet."


def red_team(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The hint writer's chat with its rules and examples replaced by `RED_TEAM_*`."""
    from lsp.hints import ASK_FULL, ASK_INLINE, RETRY

    ask = messages[-1]["content"]
    for rule in (ASK_INLINE, ASK_FULL, RETRY):
        ask = ask.replace(rule, "")
    user = ask.strip() + "\n\n" + RED_TEAM_ASK
    return [{"role": "system", "content": RED_TEAM_SYSTEM}, {"role": "user", "content": user}]


@dataclass
class Recorder:
    """Wraps a chat model to keep every raw answer (and optionally rewrite the chat first)."""

    chat: Any
    rewrite: Any = None
    answers: list[str] = field(default_factory=list)

    def reply(self, messages, **kwargs):
        result = self.chat.reply(self.rewrite(messages) if self.rewrite else messages, **kwargs)
        self.answers.append(result.text)
        return result


def student_file(problem: dict[str, Any], point: float) -> str:
    """The problem's prompt plus the first `point` share of the solution's lines, cursor on a new line."""
    lines = problem["canonical_solution"].rstrip().split("\n")
    kept = lines[: int(len(lines) * point)]
    body = "".join(line + "\n" for line in kept)
    last = next((ln for ln in reversed(kept) if ln.strip()), "    x")
    indent = last[: len(last) - len(last.lstrip())] or "    "
    if last.rstrip().endswith(":"):
        indent += "    "
    return problem["prompt"] + body + indent


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    leaks = sum(1 for r in rows if r["leak"])
    first_leaks = sum(1 for r in rows if r["first_answer_leak"])
    verdicts = [(bool(a["guard"]), bool(a["independent"])) for r in rows for a in r.get("answers", [])]
    return {
        "hints": n,
        "answers_generated": sum(r["attempts"] for r in rows),
        "answers_rejected_by_guard": sum(r["rejected"] for r in rows),
        "hints_with_a_rejection": sum(1 for r in rows if r["rejected"]),
        "generic_fallbacks": sum(1 for r in rows if r["fallback"]),
        "hints_with_code_independent_check": leaks,
        "leak_rate": round(leaks / n, 4) if n else 0.0,
        "first_answers_with_code_independent_check": first_leaks,
        "leak_rate_without_guard": round(first_leaks / n, 4) if n else 0.0,
        "seconds_per_hint": round(sum(r["seconds"] for r in rows) / n, 2) if n else 0.0,
        # Every model answer judged by both checks: where they agree and where they do not.
        "answers_code_by_both": verdicts.count((True, True)),
        "answers_code_by_guard_only": verdicts.count((True, False)),
        "answers_code_by_independent_only": verdicts.count((False, True)),
        "answers_code_by_neither": verdicts.count((False, False)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.hint_leaks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--problems", type=int, default=164, help="first N HumanEval problems (default: all 164)")
    parser.add_argument("--points", default="0,0.5",
                        help="cursor points as shares of the solution's lines (default: 0,0.5)")  # fmt: skip
    parser.add_argument("--hint-model", default=None, help="instruct model (default: the bundled model)")
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="tokens per answer (default: the hint writer's budget: 48 inline, 160 full)")  # fmt: skip
    parser.add_argument("--kind", choices=("inline", "full"), default="inline",
                        help="inline hints (a question) or the fuller hint of the codegemma.hint command "
                        "(default: inline)")  # fmt: skip
    parser.add_argument("--red-team", action="store_true",
                        help="ask without the tutoring rules and examples, inviting code: stress-tests the guard")  # fmt: skip
    parser.add_argument("--dtype", default=DTYPE, choices=DTYPES,
                        help=f"weight type of the hint model, as `codegemma lsp --dtype` (default: {DTYPE})")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("hint_leaks.jsonl"), help="results file (JSONL, resumable)")
    args = parser.parse_args(argv)
    points = [float(p) for p in args.points.split(",") if p.strip()]
    if not points or any(not 0 <= p < 1 for p in points):
        parser.error("--points must be shares in [0, 1), e.g. 0,0.5")

    from tqdm import tqdm

    from engine.chat import load_chat_model
    from evals.humaneval import load_problems
    from lsp.documents import Document
    from lsp.guard import find_code
    from lsp.hints import clean, hint_context, write_hint

    problems = load_problems()[: args.problems]
    done: dict[str, dict[str, Any]] = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["key"]] = row
    chat = load_chat_model(args.hint_model, dtype=args.dtype)
    jobs = [(p, point) for p in problems for point in points if f"{p['task_id']}@{point}" not in done]
    with open(args.out, "a", encoding="utf-8") as sink:
        for problem, point in tqdm(jobs, desc="hints", unit="hint"):
            text = student_file(problem, point)
            doc = Document(f"file:///humaneval/{problem['task_id'].replace('/', '_')}.py", text, "python")
            recorder = Recorder(chat, red_team if args.red_team else None)
            started = time.perf_counter()
            full = args.kind == "full"
            outcome = write_hint(recorder, hint_context(doc, len(text)), full=full, language="python",
                                 max_tokens=args.max_tokens)  # fmt: skip
            answers = [clean(a, full=full) for a in recorder.answers]
            row = {
                "key": f"{problem['task_id']}@{point}",
                "hint": outcome.text,
                "attempts": outcome.attempts,
                "rejected": outcome.rejected,
                "fallback": outcome.fallback,
                "leak": code_in(outcome.text),
                "first_answer": recorder.answers[0] if recorder.answers else "",
                "first_answer_leak": code_in(answers[0]) if answers else None,
                "answers": [{"text": a, "guard": find_code(a, "python"), "independent": code_in(a)} for a in answers],
                "seconds": round(time.perf_counter() - started, 2),
            }
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            done[row["key"]] = row
    keys = {f"{p['task_id']}@{point}" for p in problems for point in points}
    summary = summarise([row for key, row in done.items() if key in keys])
    summary.update(problems=len(problems), points=points, model=args.hint_model or "bundled", kind=args.kind,
                   red_team=args.red_team)  # fmt: skip
    tmp = args.out.with_suffix(".summary.json.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(args.out.with_suffix(".summary.json"))
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
