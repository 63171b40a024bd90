"""Per-record JSONL result files that survive crashes and can be resumed.

The first line holds the run's configuration; every later line is one
finished record, written and flushed as soon as it exists. A crash can at
worst leave half a line at the end, which resuming drops. Summaries are
written with an atomic rename, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from evals.errors import EvalError


def machine() -> dict[str, Any]:
    """The CPU the figures were measured on: model, the flags that matter, cores (every report's JSON has it)."""
    from engine.cpu import REPORTED_FLAGS, cpu_flags, describe_cpu

    flags = cpu_flags()
    return {"cpu": describe_cpu(), "flags": [f for f in REPORTED_FLAGS if f in flags], "cores": os.cpu_count(),
            "python": platform.python_version()}  # fmt: skip


def machine_line() -> str:
    """The line printed above every report's table, naming the machine."""
    from engine.cpu import describe_cpu

    return f"machine: {describe_cpu()}"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_lines(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """(config, records, bytes of whole lines) of an existing results file."""
    raw = path.read_bytes()
    config, records, good = None, [], 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # the half-written last line of an interrupted run
        try:
            item = json.loads(line)
        except ValueError:
            break
        if config is None:
            if not isinstance(item, dict) or "config" not in item:
                raise EvalError(f"{path} is not a results file of this harness (no config line); pick another --output")
            config = item["config"]
        else:
            records.append(item)
        good += len(line)
    return config, records, good


class ResultsFile:
    """Records of one run, appended one line at a time."""

    def __init__(self, path: Path, config: dict[str, Any], *, resume: bool, may_change: tuple[str, ...] = ()) -> None:
        """Open `path` for a run described by `config`; `may_change` lists keys a resumed run may differ in."""
        self.path = path
        self.may_change = may_change
        self.config = config
        self.records: list[dict[str, Any]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > 0:
            old_config, records, good = _read_lines(path)
            if records and not resume:
                raise EvalError(
                    f"{path} already holds {len(records)} results; pass --resume to continue that run, "
                    "or --output to start a new one"
                )
            if resume and old_config is not None:
                self._check_same_run(old_config)
                self.records = records
                self.config = {**old_config, **config}
                with path.open("r+b") as f:
                    f.truncate(good)
                self._file = path.open("a", encoding="utf-8")
                return
        self._file = path.open("w", encoding="utf-8")
        self._write({"config": config})

    def _check_same_run(self, old: dict[str, Any]) -> None:
        for key, value in self.config.items():
            if key in old and old[key] != value and key not in self.may_change:
                raise EvalError(
                    f"cannot resume {self.path}: it was run with {key}={old[key]!r}, now {key}={value!r}; "
                    "use the same options, or another --output"
                )

    def _write(self, item: dict[str, Any]) -> None:
        self._file.write(json.dumps(item, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def append(self, record: dict[str, Any]) -> None:
        self._write(record)
        self.records.append(record)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ResultsFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_results(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Config and records of a finished or interrupted run, for reports."""
    if not path.is_file():
        raise EvalError(f"no such results file: {path}")
    config, records, _ = _read_lines(path)
    if config is None:
        raise EvalError(f"{path} is empty")
    return config, records


def print_figures(report: Any, json_path: Path | None) -> int:
    """Print a run's figures (a dataclass with a `clean` verdict), one per line, and write them to `json_path` if
    given; the exit code: 0 when the run was clean."""
    from dataclasses import asdict

    figures = asdict(report)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:>{width}}: {value}")
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if report.clean else 1
