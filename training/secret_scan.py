"""Keep credentials out of training data.

A model trained on a line holding an API token can print that token as a
completion to anyone who uses the adapter. Files with a private key block
are dropped whole (the key is many lines and the file is usually nothing
else); other credentials are dropped line by line, so a settings module
with one real password still teaches the rest of its code. The patterns
are the common, high-precision ones (vendor token prefixes) plus quoted
literals assigned to names like `password`; placeholders such as
`password = "changeme"` or `${VAR}` are not credentials and stay.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


@dataclass(frozen=True)
class SecretPattern:
    """One kind of credential: a line regex and the lower-case literals one of which it must contain.

    The literals make the scan cheap: a regex starting with `\\b` cannot use
    Python's literal-prefix search, and most files contain none of them.
    """

    kind: str
    regex: re.Pattern[str]
    hints: tuple[str, ...]


_SECRET_NAMES = (
    "password", "passwd", "pwd", "secret", "api_key", "apikey", "api-key", "access_key", "accesskey", "access-key",
    "auth_token", "authtoken", "auth-token", "private_key", "privatekey", "private-key",
)  # fmt: skip

PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), ("akia", "asia")),
    SecretPattern(
        "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    SecretPattern("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}\b"), ("glpat-",)),
    SecretPattern("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), ("xox",)),
    SecretPattern("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"), ("aiza",)),
    SecretPattern("openai_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{32,}\b"), ("sk-",)),
    SecretPattern("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{34,}\b"), ("hf_",)),
    SecretPattern("stripe_key", re.compile(r"\b[rs]k_live_[A-Za-z0-9]{20,}\b"), ("k_live_",)),
    SecretPattern(
        "jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"), ("eyj",)
    ),
    SecretPattern(
        "url_password", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s:/@'\"]+:(?P<value>[^\s:/@'\"]{6,})@[\w.\-]+"), ("://",)
    ),
    SecretPattern(
        "assigned_secret",
        re.compile(
            r"""(?ix)
            \b[\w.\-]*(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|private[_-]?key)[\w\-]*
            ["']?\s*(?::=|=|:)\s*
            (?:b|r|u)?(["'])(?P<value>[^"'\s]{8,})\1
            """
        ),
        _SECRET_NAMES,
    ),
)

#: Values that look assigned to a secret name but are placeholders or examples.
PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|\.+|<.*>|\$\{.*\}|\{\{.*\}\}|%\(.*\)s|%s|changeme|password\d*|secret\d*|example\w*|"
    r"your[_\-]?\w*|dummy\w*|test\w*|fake\w*|placeholder|redacted|none|null|todo)$"
)


@dataclass(frozen=True)
class Scrubbed:
    """A file's text with credential lines removed; None when the whole file must go."""

    text: str | None
    #: Credential kind -> how many lines (or files, for `private_key`) were dropped.
    found: Counter


def scrub(text: str) -> Scrubbed:
    """Drop `text` if it holds a private key, else drop every line that holds a credential."""
    if "PRIVATE KEY" in text and PRIVATE_KEY.search(text):
        return Scrubbed(None, Counter(private_key=1))
    found: Counter = Counter()
    lower = text.lower()
    active = [p for p in PATTERNS if any(h in lower for h in p.hints)]
    if not active:
        return Scrubbed(text, found)
    kept = []
    for line in text.splitlines(keepends=True):
        kind = secret_kind(line, active)
        if kind is None:
            kept.append(line)
        else:
            found[kind] += 1
    return Scrubbed("".join(kept), found)


def secret_kind(line: str, patterns: tuple[SecretPattern, ...] | list[SecretPattern] = PATTERNS) -> str | None:
    """The kind of credential `line` holds, or None."""
    lower = line.lower()
    for pattern in patterns:
        if not any(h in lower for h in pattern.hints):
            continue
        for match in pattern.regex.finditer(line):
            value = match.groupdict().get("value")
            if value is not None and PLACEHOLDER.match(value):
                continue
            return pattern.kind
    return None
