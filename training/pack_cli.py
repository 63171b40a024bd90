"""Pack local repositories into a FIM training dataset.

  codegemma pack ~/src/myproject --out data/myproject
  codegemma pack ~/src/api ~/src/web --out data/work --seq-len 4096 --model google/codegemma-2b
  codegemma pack ~/src/lib --out data/lib --holdout 'src/lib/core/*' --val-fraction 0
  codegemma pack ~/src/app --out data/app --extra-ext .rb,.kt --fim-rate 0.9

Files are walked as git would see them (.gitignore respected), filtered
(binaries, vendored and generated code, minified files, files over
--max-file-bytes, credentials), deduplicated, ordered by their imports the
way CodeGemma's training data was, written in the model's multi-file form
with FIM applied per file (rate 0.8, half PSM, half SPM, syntax-aware
middles), and tokenized into windows of --seq-len tokens. The output is a
Hugging Face `datasets` DatasetDict (train/validation, split by whole
files) plus stats.json (what was kept, skipped and why) and manifest.jsonl
(every file, its split and position). Same inputs and --seed, same output.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from training.dedupe import DedupeConfig
from training.documents import FimConfig
from training.walk import WalkLimits

HELP = "pack repositories into a tokenized FIM dataset for `codegemma train`"

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repos", nargs="+", metavar="REPO", help="repository root directories")
    parser.add_argument("--out", required=True, type=Path, help="directory to write the dataset to")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--model", default=os.environ.get("CODEGEMMA_MODEL"),
                        help="model whose tokenizer and FIM format to use: Hugging Face id, directory or .gguf "
                        "(default: the bundled model). Train with the same model")  # fmt: skip
    parser.add_argument("--fim-format", help="force a FIM format instead of detecting it (e.g. codegemma)")
    parser.add_argument("--seq-len", type=int, default=2048, help="tokens per training window (default: 2048)")
    parser.add_argument("--seed", type=int, default=0, help="seed for splits and FIM choices (default: 0)")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="share of each repository's files held out for validation (default: 0.05)")  # fmt: skip
    parser.add_argument("--holdout", action="append", default=[], metavar="GLOB",
                        help="also hold out files matching GLOB (repository-relative path; repeatable)")  # fmt: skip
    fim = parser.add_argument_group("FIM")
    fim.add_argument("--fim-rate", type=float, default=0.8, help="share of file pieces made FIM examples (0.8)")
    fim.add_argument("--spm-rate", type=float, default=0.5, help="share of FIM examples in SPM order (0.5)")
    fim.add_argument("--spm-order", default="spm-v2", choices=("spm", "spm-v2"),
                     help="SPM layout (see fim/formats.py; default: spm-v2, prefix last)")  # fmt: skip
    fim.add_argument("--random-span-rate", type=float, default=0.1,
                     help="share of middles that are random character spans, not syntax units (0.1)")  # fmt: skip
    filters = parser.add_argument_group("filters")
    filters.add_argument("--max-file-bytes", type=int, default=1_000_000, help="skip larger files (default: 1 MB)")
    filters.add_argument("--extra-ext", default="",
                         help="comma-separated extensions to pack as plain text though we have no grammar "
                         "for them (e.g. .rb,.kt,.md); by default only Python, JS/TS, Go, Rust, Java, C/C++ "
                         "are packed")  # fmt: skip
    filters.add_argument("--near-dup-threshold", type=float, default=0.85,
                         help="MinHash Jaccard similarity at which files count as near-duplicates (0.85)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from training.errors import TrainingError
    from training.model_io import load_tokenizer
    from training.pack import PackConfig, pack

    extra = frozenset(e.strip().lower() if e.strip().startswith(".") else f".{e.strip().lower()}"
                      for e in args.extra_ext.split(",") if e.strip())  # fmt: skip
    if not 0 < args.near_dup_threshold <= 1:
        raise TrainingError(f"--near-dup-threshold must be in (0, 1], not {args.near_dup_threshold}")
    config = PackConfig(
        repos=tuple(Path(r) for r in args.repos),
        out=args.out,
        seq_len=args.seq_len,
        seed=args.seed,
        val_fraction=args.val_fraction,
        holdout=tuple(args.holdout),
        fim=FimConfig(
            rate=args.fim_rate, spm_rate=args.spm_rate, spm_order=args.spm_order, random_span_rate=args.random_span_rate
        ),  # fmt: skip
        limits=WalkLimits(max_file_bytes=args.max_file_bytes, extra_extensions=extra),
        dedupe=DedupeConfig(threshold=args.near_dup_threshold),
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    tokenizer, fmt, _ = load_tokenizer(args.model, args.fim_format)
    stats = pack(config, tokenizer, fmt, model=args.model or "bundled")
    skipped = ", ".join(f"{n} {k}" for k, n in sorted(stats["skipped"].items(), key=lambda kv: -kv[1]))
    print(
        f"packed {stats['files']} files ({stats['files_by_split'].get('train', 0)} train, "
        f"{stats['files_by_split'].get('validation', 0)} validation) into "
        f"{stats['windows']['train']} + {stats['windows']['validation']} windows of <= {stats['seq_len']} tokens "
        f"({stats['tokens']['train']} + {stats['tokens']['validation']} tokens) in {stats['seconds']} s: "
        f"{stats['files_per_second']} files/s, {stats['tokens_per_second']} tokens/s\n"
        f"import edges {stats['edges']}, cycles broken {stats['cycles_broken']}, tests placed {stats['tests_placed']}; "
        f"skipped: {skipped or 'nothing'}; secrets dropped: {sum(stats['secrets'].values())}\n"
        f"written to {args.out} (stats.json, manifest.jsonl)"
    )
    return 0
