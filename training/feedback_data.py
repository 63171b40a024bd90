"""Reading the language server's feedback log (`lsp.feedback`): acceptance figures and preference pairs.

`read_log` checks every line and names the first bad one; `feedback_stats`
counts shown items, acceptances and characters by language; `preference_pairs`
turns the fates that tell what the user wanted instead into ORPO/DPO rows:

- typed over: chosen = what the user typed, rejected = the suggestion;
- accepted in part (and still there at the retention check): chosen = the part
  kept, rejected = the whole suggestion;
- dismissed with text typed instead (when a client reports it): as typed over.

Whole acceptances, typed-through and ignored items have nothing to prefer
over the suggestion and make no pair.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from training.errors import TrainingError

REQUIRED = ("prefix", "suffix", "suggestion", "fate")
ACCEPTED = ("accepted", "partial")
#: Columns of the pairs dataset.
PAIR_COLUMNS = ("prefix", "suffix", "path", "language", "context_paths", "chosen", "rejected", "fate", "item")


def log_files(path: Path) -> list[Path]:
    """The log and its rotated predecessor (`<name>.1`), oldest first."""
    if path.is_dir():
        path = path / "feedback.jsonl"
    rotated = path.with_name(path.name + ".1")
    files = [p for p in (rotated, path) if p.is_file()]
    if not files:
        raise TrainingError(f"no feedback log at {path}: turn on the feedback_log setting (codegemma lsp "
                            "--feedback-log) and use the editor for a while first")  # fmt: skip
    return files


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every record of the log at `path` (file or its directory); a clear error naming a corrupt line."""
    records = []
    for file in log_files(path):
        with open(file, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().split("\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if number == len(lines):  # a record cut short by a crash: the only one that can be lost
                    continue
                raise TrainingError(f"{file}:{number}: not a JSON record ({exc.msg}); the log is corrupt") from None
            missing = [k for k in REQUIRED if not isinstance(record, dict) or k not in record]
            if missing:
                raise TrainingError(f"{file}:{number}: not a feedback record (missing {', '.join(missing)})")
            records.append(record)
    return records


def _group_stats(records: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = [r for r in records if r["fate"] in ACCEPTED]
    kept = sum(len(r.get("kept") or "") for r in accepted)
    checked = [r for r in accepted if r.get("retained") is not None]
    latencies = sorted(r["latency_ms"] for r in records if isinstance(r.get("latency_ms"), (int, float)))
    fates: dict[str, int] = defaultdict(int)
    for r in records:
        fates[r["fate"]] += 1
    return {
        "shown": len(records),
        "accepted": len(accepted),
        "acceptance_rate": round(len(accepted) / len(records), 4) if records else 0.0,
        "chars_accepted": kept,
        "chars_retained": sum(len(r.get("kept") or "") for r in checked if r["retained"]),
        "retention_checked": len(checked),
        "accepted_chars_per_shown": round(kept / len(records), 2) if records else 0.0,
        "median_latency_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p90_latency_ms": round(latencies[int(0.9 * (len(latencies) - 1))], 1) if latencies else None,
        "fates": dict(sorted(fates.items())),
    }


def feedback_stats(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures over all records and per language."""
    by_language: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_language[r.get("language") or "unknown"].append(r)
    return {"all": _group_stats(records),
            "by_language": {k: _group_stats(v) for k, v in sorted(by_language.items())}}  # fmt: skip


def preference_pairs(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per record that says what the user wanted instead of the suggestion (duplicates dropped)."""
    rows, seen = [], set()
    for r in records:
        fate, suggestion = r["fate"], r["suggestion"]
        if fate in ("typed_over", "dismissed"):
            chosen = r.get("typed") or ""
        elif fate == "partial" and r.get("retained") is not False:
            chosen = r.get("kept") or ""
        else:
            continue
        if not chosen.strip() or not suggestion.strip() or chosen == suggestion:
            continue
        key = (r["prefix"], r["suffix"], chosen, suggestion)
        if key in seen:
            continue
        seen.add(key)
        rows.append({"prefix": r["prefix"], "suffix": r["suffix"], "path": r.get("path") or "",
                     "language": r.get("language") or "", "context_paths": list(r.get("context_paths") or []),
                     "chosen": chosen, "rejected": suggestion, "fate": fate, "item": r.get("item", "")})  # fmt: skip
    return rows


def write_pairs(rows: list[dict[str, Any]], out: Path) -> None:
    """Save `rows` as a `datasets` dataset (load it with `datasets.load_from_disk(out)`)."""
    from datasets import Dataset

    if not rows:
        raise TrainingError("the log has no preference pairs yet (no typed-over, dismissed-with-text or partly "
                            "accepted suggestions); nothing written")  # fmt: skip
    Dataset.from_dict({c: [r[c] for r in rows] for c in PAIR_COLUMNS}).save_to_disk(str(out))


def load_pairs(data: Path) -> Any:
    """The dataset `codegemma feedback pairs` wrote at `data`, checked for its columns."""
    from datasets import load_from_disk

    if not (data / "dataset_info.json").is_file():
        raise TrainingError(f"{data} is not a dataset written by `codegemma feedback pairs --out {data}`")
    dataset = load_from_disk(str(data))
    missing = [c for c in ("prefix", "suffix", "chosen", "rejected") if c not in dataset.column_names]
    if missing:
        raise TrainingError(f"{data}: the dataset lacks column(s) {', '.join(missing)}")
    if len(dataset) == 0:
        raise TrainingError(f"{data}: the dataset has no rows")
    return dataset
