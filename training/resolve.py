"""Resolve imports to files of the same repository by longest path-suffix match.

An import names a module the way the language spells it (`pkg.util`,
`./util`, `crate::config`, `"net/http.h"`); the repository stores files
under some root that the import does not mention (`src/`, `lib/`,
`src/main/java/`). Comparing paths from the end finds the file without
knowing the build system: the file whose path shares the longest tail with
the import wins, and among equals the one nearest the importing file.
Per-language spelling rules are data (`training/languages.yaml`).
"""

from __future__ import annotations

import posixpath
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Mapping

import yaml

from fim import syntax
from training.imports import ImportRef, extract_imports

#: A match of fewer trailing components than the whole import must still share this many.
MIN_PARTIAL_MATCH = 2


@dataclass(frozen=True)
class LanguageRules:
    """One language's entry in `languages.yaml` (see the comments there)."""

    group: str
    separator: str = "/"
    relative: str = "none"
    drop_leading: tuple[str, ...] = ()
    index_names: tuple[str, ...] = ()
    keep_extension: bool = False
    target: str = "file"
    members: int = 0
    module_prefix: bool = False
    tests: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def rules() -> Mapping[str, LanguageRules]:
    """Rules by grammar name, from the packaged `languages.yaml`."""
    text = resources.files("training").joinpath("languages.yaml").read_text(encoding="utf-8")
    out = {}
    for language, entry in yaml.safe_load(text).items():
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        out[language] = LanguageRules(**fields)
    return out


def split_ext(name: str) -> tuple[str, str]:
    stem, ext = posixpath.splitext(name)
    return (stem, ext) if stem else (name, "")


def module_key(path: str, lang: LanguageRules) -> tuple[str, ...]:
    """The components an import would use to name `path` (`pkg/__init__.py` -> `("pkg",)`)."""
    parts = path.split("/")
    if lang.target == "directory":
        return tuple(parts[:-1])
    if not lang.keep_extension:
        stem = split_ext(parts[-1])[0]
        parts = parts[:-1] if stem in lang.index_names else [*parts[:-1], stem]
    return tuple(parts)


@dataclass
class RepoIndex:
    """The files of one repository, keyed for suffix lookups, per language group."""

    #: (group, last key component) -> [(key, path)].
    by_last: dict[tuple[str, str], list[tuple[tuple[str, ...], str]]] = field(default_factory=lambda: defaultdict(list))
    by_key: dict[tuple[str, tuple[str, ...]], list[str]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def build(cls, files: Iterable[tuple[str, str | None]]) -> RepoIndex:
        """Index `(path, language)` pairs; files of languages without rules are not import targets."""
        index = cls()
        table = rules()
        for path, language in sorted(files):
            lang = table.get(language or "")
            if lang is None:
                continue
            key = module_key(path, lang)
            if not key:
                continue
            index.by_last[(lang.group, key[-1])].append((key, path))
            index.by_key[(lang.group, key)].append(path)
        return index

    def resolve(self, ref: ImportRef, importer: str, language: str | None) -> list[str]:
        """Repository files `ref` (written in `importer`) names; empty when it names none (a library)."""
        lang = rules().get(language or "")
        if lang is None:
            return []
        importer_dir = tuple(importer.split("/")[:-1])
        for candidate, exact in candidates(ref, importer_dir, lang):
            found = self._lookup(candidate, exact, importer, lang)
            if found:
                return found
        return []

    def _lookup(self, key: tuple[str, ...], exact: bool, importer: str, lang: LanguageRules) -> list[str]:
        if exact:
            return [path for path in self.by_key.get((lang.group, key), []) if path != importer]
        importer_dir = tuple(importer.split("/")[:-1])
        best: list[tuple[tuple[str, ...], str]] = []
        best_score = (0, 0)
        for file_key, path in self.by_last.get((lang.group, key[-1]), []):
            if path == importer:
                continue
            shared = _common_suffix(key, file_key)
            whole = shared == len(key) or (lang.module_prefix and shared == len(file_key))
            if not whole and shared < MIN_PARTIAL_MATCH:
                continue
            score = (shared, _common_prefix(importer_dir, tuple(path.split("/")[:-1])))
            if score > best_score:
                best, best_score = [(file_key, path)], score
            elif score == best_score:
                best.append((file_key, path))
        if not best:
            return []
        if lang.target == "directory":
            # A package is every file of the best-matching directory.
            return sorted(p for p in self.by_key[(lang.group, best[0][0])] if p != importer)
        return [min(path for _, path in best)]


def import_edges(files: Mapping[str, tuple[str | None, str]], on_file=lambda: None) -> Counter:
    """(importer, imported) -> references, for a repository given as `path -> (language, text)`."""
    index = RepoIndex.build((path, language) for path, (language, _) in files.items())
    edges: Counter = Counter()
    for path, (language, text) in files.items():
        for ref in extract_imports(text, language):
            for target in index.resolve(ref, path, language):
                edges[(path, target)] += 1
        on_file()
    return edges


def candidates(
    ref: ImportRef, importer_dir: tuple[str, ...], lang: LanguageRules
) -> list[tuple[tuple[str, ...], bool]]:
    """Module keys `ref` may name, most specific first, each with whether it must match exactly."""
    text = ref.module.strip()
    exact = False
    if lang.relative == "dots" and text.startswith("."):
        dots = len(text) - len(text.lstrip("."))
        base = importer_dir[: len(importer_dir) - (dots - 1)] if dots - 1 <= len(importer_dir) else None
        if base is None:
            return []
        rest = [p for p in text[dots:].split(lang.separator) if p]
        parts, exact = [*base, *rest], True
    elif lang.relative == "path" and text.startswith(("./", "../")):
        joined = posixpath.normpath(posixpath.join("/".join(importer_dir), text))
        if joined.startswith(".."):
            return []
        parts, exact = [p for p in joined.split("/") if p not in ("", ".")], True
    else:
        parts = [p for p in text.split(lang.separator) if p and p != "*"]
        while parts and parts[0] in lang.drop_leading:
            parts.pop(0)
    if not lang.keep_extension and parts and split_ext(parts[-1])[1].lower() in syntax.EXTENSIONS:
        parts[-1] = split_ext(parts[-1])[0]
    if lang.index_names and parts and parts[-1] in lang.index_names:
        parts.pop()
    out: list[tuple[tuple[str, ...], bool]] = []
    if ref.member:
        out.append(((*parts, *ref.member.split(lang.separator)), exact))
    if parts:
        out.append((tuple(parts), exact))
    for drop in range(1, lang.members + (0 if ref.member else 1)):
        if len(parts) > drop:
            out.append((tuple(parts[:-drop]), exact))
    return out


def _common_suffix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n
