"""The hint guard: a hint may name things, never show code.

Hint mode exists for people practising problems, so a hint that contains
solution code defeats it. The guard asks tree-sitter whether any piece of
the hint parses cleanly as code, and lets through only what a tutor would
write in prose: a short identifier (`total`, `str.join`, `sorted()`), a
number, big-O notation.

Pieces checked:
- fenced code blocks: always code;
- text in backticks;
- each sentence as a whole (Python and JavaScript grammars, which accept
  bare expressions and statements and still reject ordinary English);
- each run of code-looking words inside a sentence (`nums[i] > nums[j]`,
  `range(n):`) — in the file's own grammar too, embedded in a function body
  for grammars that do not take statements at the top level.

English two-word phrases parse as declarations in C and Java (`Consider
edges;`), which is why whole sentences are not checked in those grammars.
The evaluation (`evals/hint_leaks.py`) measures what slips through with an
independent check based on Python's own parser.
"""

from __future__ import annotations

import re

from fim.syntax import has_error, parse

#: How to embed a snippet so that it parses as statements, per grammar.
#: Grammars not listed take statements at the top level.
EMBED: dict[str, str] = {
    "go": "package p\nfunc f() {{\n{}\n}}\n",
    "rust": "fn f() {{\n{}\n}}\n",
    "java": "class C {{ void f() {{\n{}\n}} }}\n",
    "c": "void f(void) {{\n{}\n}}\n",
    "cpp": "void f() {{\n{}\n}}\n",
}
#: Grammars every sentence is checked with (they reject plain English).
PROSE_GRAMMARS = ("python", "javascript")

#: Longest identifier still allowed as a "short identifier".
MAX_IDENTIFIER = 32
_ALLOWED = [
    re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::)[A-Za-z_$][\w$]*){0,2}(?:\(\))?"),  # total, str.join, sorted()
    re.compile(r"[-+]?\d+(?:\.\d+)?%?"),  # 0, 1.5, 50%
    re.compile(r"O\([^()]*(?:\([^()]*\)[^()]*)*\)"),  # O(n), O(n log n), O(log(n))
    re.compile(r"\(\s*[A-Za-z][\w\s,'-]*\)"),  # an aside in parentheses: (dictionary), (or a set)
]
_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_TICKS = re.compile(r"`([^`\n]+)`")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
LABEL = re.compile(
    r"^\s*(?:[-*•]\s+|\d+[.)]\s+)?"  # a list bullet
    r"(?:\*\*)?(?:hint|question|nudge|tip|next step)\s*\d*\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*",  # "**Hint 1:**"
    re.I,
)
#: Characters that make a word look like code (besides `_` or `.` inside a word, and `::`/`->`).
_CODE_CHARS = set("()[]{}=<>+*/%;&|^~!")
_OPERATOR = re.compile(r"^(?:[=<>!+*/%&|^~]=?|==|!=|<=|>=|&&|\|\||<<|>>|\*\*|//|->|=>|:=|\+\+|--)$")
_EDGE_PUNCT = " \t.,;:?!\"'“”‘’"


def is_allowed(snippet: str) -> bool:
    """True for what a hint may contain even in backticks: a short name, a number, big-O."""
    text = snippet.strip()
    return len(text) <= MAX_IDENTIFIER + 2 and any(p.fullmatch(text) for p in _ALLOWED)


def parses_as_code(snippet: str, language: str) -> bool:
    """True when `snippet` parses without errors as `language` (statements, or an expression)."""
    template = EMBED.get(language, "{}")
    for attempt in (snippet, snippet + ";") if language in EMBED else (snippet,):
        tree = parse(template.format(attempt), language)
        if tree is None:
            return False
        root = tree.root_node
        if not has_error(root) and any(child.type != "comment" for child in root.named_children):
            return True
    return False


def _looks_like_code(word: str) -> bool:
    core = word.strip(_EDGE_PUNCT)
    if not core:
        return False
    if _OPERATOR.match(core) or any(ch in _CODE_CHARS for ch in core):
        return True
    if "::" in core or "->" in core:
        return True
    return bool(re.search(r"\w[._]\w|[A-Za-z_]\w*-\d", core))


def code_runs(sentence: str) -> list[str]:
    """Maximal runs of code-looking words, with the plain words an operator joins (`i < n`)."""
    words = sentence.split()
    marks = [_looks_like_code(w) for w in words]
    for i, word in enumerate(words):
        if _OPERATOR.match(word):
            for j in (i - 1, i + 1):
                if 0 <= j < len(words):
                    marks[j] = True
    runs, current = [], []
    for word, marked in zip(words, marks):
        if marked:
            current.append(word)
        elif current:
            runs.append(" ".join(current))
            current = []
    if current:
        runs.append(" ".join(current))
    return [r.strip(_EDGE_PUNCT) for r in runs if r.strip(_EDGE_PUNCT)]


def sentences(text: str) -> list[str]:
    """The hint's sentences, without list bullets, "Hint:" labels or end punctuation."""
    out = []
    for line in text.splitlines():
        for part in _SENTENCE_END.split(line):
            part = LABEL.sub("", part).strip(_EDGE_PUNCT)
            if part:
                out.append(part)
    return out


def find_code(text: str, language: str | None = None) -> str | None:
    """The first piece of `text` that is code beyond a short identifier, or None when it is all prose."""
    fence = _FENCE.search(text)
    if fence:
        return fence.group(0)
    grammars = list(dict.fromkeys([*([language] if language else []), *PROSE_GRAMMARS]))
    for quoted in _TICKS.findall(text):
        snippet = quoted.strip()
        if not is_allowed(snippet) and any(parses_as_code(snippet, g) for g in grammars):
            return snippet
    prose = _TICKS.sub(lambda m: m.group(1), text)
    for sentence in sentences(prose):
        if not is_allowed(sentence) and any(parses_as_code(sentence, g) for g in PROSE_GRAMMARS):
            return sentence
        for run in code_runs(sentence):
            # A run may hold prose in parentheses that keeps it from parsing: try its words alone too.
            words = [w.strip(_EDGE_PUNCT) for w in run.split()] if " " in run else []
            for piece in (run, *words):
                if piece and not is_allowed(piece) and any(parses_as_code(piece, g) for g in grammars):
                    return piece
    return None
