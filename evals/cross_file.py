"""Cross-file holes in installed packages (CrossCodeEval's construction) and how context changes them.

A hole is one line of a package's file that uses a name defined at the top level of *another* file of the
same package that this file imports (resolved with `training/resolve.py`, the resolver the prompt uses), and
not defined in the file itself: the line cannot be completed from the file alone unless the model guesses
the name. The line is masked after its indentation; the model sees the code above (prefix) and below
(suffix). Lines inside strings and comments, import statements and lines longer than 120 characters are
never holes. A seeded sample takes the same number of holes from each package.

Context modes, all at the same `--context-tokens`:

- `none`: in-file context only;
- `imports`: the imported files from their top (what the language server shows for open imported files);
- `full`: the repository context of `repo_context.assemble` (`--sources` picks the sources).
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass
from pathlib import Path

from evals.errors import EvalError
from repo_context.tags import NAME
from repo_context.workspace import Snapshot, Workspace
from training.demo import masked_lines

#: Installed packages nobody here wrote, tried in this order (those not installed are skipped).
DEFAULT_PACKAGES = ("click", "httpx", "requests", "rich", "jinja2", "werkzeug", "starlette", "urllib3", "pydantic")
#: Context modes.
MODES = ("none", "imports", "full")


@dataclass(frozen=True)
class Hole:
    package: str
    #: Path inside the package (as the workspace index names it).
    path: str
    #: 1-based line number.
    line: int
    prefix: str
    suffix: str
    target: str
    #: The other-file names the line uses.
    names: tuple[str, ...]


def package_root(name: str) -> Path:
    """The directory of installed package `name`; an EvalError when it is not installed or not a package."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EvalError(f"package {name!r} is not installed here (or is a single module); pick others with --packages")
    return Path(next(iter(spec.submodule_search_locations)))


def package_holes(package: str, snapshot: Snapshot) -> list[Hole]:
    """Every cross-file hole of one indexed package, in path and line order."""
    holes: list[Hole] = []
    for path in sorted(snapshot.files):
        entry = snapshot.files[path]
        if entry.language != "python":
            continue
        own = {d.name for d in entry.definitions}
        foreign: set[str] = set()
        for target in snapshot.imported(path):
            foreign.update(d.name for d in snapshot.files[target].definitions if d.kind != "method")
        foreign -= own
        if not foreign:
            continue
        lines = entry.text.split("\n")
        for index in masked_lines(entry.text, entry.language):
            line = lines[index]
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                continue
            used = tuple(dict.fromkeys(n for n in NAME.findall(stripped) if n in foreign))
            if not used:
                continue
            indent = line[: len(line) - len(line.lstrip())]
            prefix = "\n".join(lines[:index]) + ("\n" if index else "") + indent
            holes.append(Hole(package, path, index + 1, prefix, "\n" + "\n".join(lines[index + 1 :]), stripped, used))
    return holes


def build_holes(packages: list[str], count: int, seed: int) -> tuple[list[Hole], dict[str, Workspace]]:
    """`count` holes spread evenly over `packages` (seeded), and each package's indexed workspace."""
    if count <= 0:
        raise EvalError(f"--holes must be positive, not {count}")
    workspaces = {name: Workspace(package_root(name)) for name in packages}
    per_package = {name: package_holes(name, ws.refresh()) for name, ws in workspaces.items()}
    empty = [name for name, holes in per_package.items() if not holes]
    if empty:
        raise EvalError(f"no cross-file holes in {', '.join(empty)}; leave them out of --packages")
    rng = random.Random(seed)
    share, extra = divmod(count, len(packages))
    chosen: list[Hole] = []
    for i, name in enumerate(packages):
        holes = per_package[name]
        chosen += sorted(rng.sample(holes, min(len(holes), share + (1 if i < extra else 0))),
                         key=lambda h: (h.path, h.line))  # fmt: skip
    return chosen, workspaces
