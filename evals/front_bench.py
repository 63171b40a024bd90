"""`codegemma bench latency --front URL`: our FIM layer in front of llama.cpp against the same clients straight to it.

The direct backend is `--backend llama.cpp --url UPSTREAM` (its `/infill`); the front is a `codegemma serve
--engine llama.cpp=UPSTREAM` at URL. Both replay the same requests at 1 client and at `--concurrency`
clients, one backend after the other, so the upstream's own token counter (`/metrics`, llama-server run
with `--metrics`) says how many tokens it generated for each (a request the front closed early is counted
when the upstream notices; the counter is read once no slot is busy).

Added latency is per request: the front's end-to-end latency minus the direct one for the same request
(same file, cursor, typing step), then the median. Without `--raw` the front also stops at the end of the
unit and types through its previous completion, so the difference mixes its overhead with what early
close saves; with `--raw` both generate to the same end, and the difference is the layer's overhead.

The two passes do not get the same prompt (llama.cpp's `/infill` builds its own, a few tokens apart), and
the upstream's own prompt time for the same tokens swings by ±200 ms between passes on 2 cores, so the
end-to-end difference mostly measures the upstream. The layer's own cost is what the upstream's timings
leave out: each request's latency minus the prompt and generation time the upstream reported for it,
front minus direct (and the same for the first text, minus the prompt time). Those are reported where
both timings are the upstream's: requests the front closed early carry the front's own clock instead.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from engine.transport import HttpBackend, PeerFailure
from evals.errors import EvalError
from evals.latency import Job, Record, Sample, replay_concurrent, summarize
from evals.metrics import percentile

#: Seconds to wait for the upstream's slots to go idle before its counter is read.
IDLE_WAIT_S = 30.0
COUNTER = "llamacpp:tokens_predicted_total"


def upstream_tokens(direct: HttpBackend) -> float:
    """The upstream's tokens generated so far, once none of its slots is busy."""
    deadline = time.monotonic() + IDLE_WAIT_S
    while time.monotonic() < deadline:
        slots = direct.call_json("/slots")
        if not any(isinstance(slot, dict) and slot.get("is_processing") for slot in slots or []):
            break
        time.sleep(0.05)
    found = re.search(rf"^{re.escape(COUNTER)} (\S+)$", direct.call_text("/metrics"), re.M)
    if not found:
        raise EvalError(f"{direct.url}/metrics has no {COUNTER}: start llama-server with --metrics")
    return float(found.group(1))


def forget_prompts(direct: HttpBackend) -> bool:
    """Erase every slot's cache of the upstream, so a pass does not find the prompts of the pass before.

    The passes replay the same requests, so without this the second one reads
    its prompts from llama-server's cache. llama-server erases a slot only when
    started with `--slot-save-path DIR`; False when it cannot. It also restores
    slots from prompts it keeps in RAM, which this does not clear: run it with
    `--cache-ram 0` as well (README).
    """
    try:
        slots = direct.call_json("/slots")
        for slot in slots or []:
            direct.call_json(f"/slots/{int(slot['id'])}?action=erase", body={})
    except (PeerFailure, KeyError, TypeError, ValueError):
        return False
    return True


@dataclass
class FrontRun:
    #: `LABEL xN` -> the usual latency summary plus `upstream_tokens`.
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Clients -> the front against the direct backend.
    comparison: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Whether the upstream's prompt cache was erased before every pass (see `forget_prompts`).
    fresh_passes: bool = True


def replay_front(backends: dict[str, Any], jobs: list[Job], record: Record, samples: list[Sample], *,
                 concurrency: int, max_tokens: int, raw: bool) -> FrontRun:  # fmt: skip
    """Direct, then front, at 1 client and at `concurrency`; `samples` is what `record` has kept."""
    (direct_label, direct), (front_label, front) = backends.items()
    run = FrontRun()
    for clients in sorted({1, concurrency}):
        tokens = {}
        for label, backend in ((direct_label, direct), (front_label, front)):
            run.fresh_passes = forget_prompts(direct) and run.fresh_passes
            before = upstream_tokens(direct)
            wall = replay_concurrent(label, backend, jobs, record, concurrency=clients, max_tokens=max_tokens, raw=raw)
            tokens[label] = upstream_tokens(direct) - before
            mine = [s for s in samples if s.backend == label and s.concurrency == clients]
            run.summaries[f"{label} x{clients}"] = {**summarize(mine, wall), "clients": clients,
                                                    "upstream_tokens": tokens[label]}  # fmt: skip
        compared = added_latency(samples, direct_label, front_label, clients)
        compared.update(upstream_tokens_direct=tokens[direct_label], upstream_tokens_front=tokens[front_label],
                        upstream_tokens_ratio=tokens[front_label] / max(1.0, tokens[direct_label]))  # fmt: skip
        run.comparison[clients] = run.summaries[f"{front_label} x{clients}"]["vs_direct"] = compared
    return run


def added_latency(samples: list[Sample], direct_label: str, front_label: str, clients: int) -> dict[str, Any]:
    """Median of front minus direct over the requests both answered, at `clients` clients."""

    def answered(label: str) -> dict[tuple[str, int, int], Sample]:
        return {(s.kind, s.sequence, s.step): s for s in samples
                if s.backend == label and s.concurrency == clients and s.error is None}  # fmt: skip

    direct, front = answered(direct_label), answered(front_label)
    both = sorted(direct.keys() & front.keys())
    first = [
        front[k].first_text_ms - direct[k].first_text_ms
        for k in both  # type: ignore[operator]
        if front[k].first_text_ms is not None and direct[k].first_text_ms is not None
    ]
    # The upstream's own timings: a request the front closed early (fewer tokens) or typed through (no prompt)
    # carries the front's clock instead.
    timed = [k for k in both if min(direct[k].prompt_ms, front[k].prompt_ms) > 0
             and direct[k].generated_tokens == front[k].generated_tokens]  # fmt: skip

    def outside(s: Sample) -> float:
        return s.latency_ms - s.prompt_ms - s.generate_ms

    first_outside = [
        front[k].first_text_ms - front[k].prompt_ms - (direct[k].first_text_ms - direct[k].prompt_ms)
        for k in timed
        if front[k].first_text_ms is not None and direct[k].first_text_ms is not None
    ]
    return {
        "pairs": len(both),
        "added_median_ms": percentile([front[k].latency_ms - direct[k].latency_ms for k in both], 50),
        "added_file_median_ms": percentile(
            [front[k].latency_ms - direct[k].latency_ms for k in both if k[0] == "file"], 50
        ),  # fmt: skip
        "added_first_text_median_ms": percentile(first, 50),
        "upstream_timed_pairs": len(timed),
        "added_outside_upstream_median_ms": percentile([outside(front[k]) - outside(direct[k]) for k in timed], 50),
        "added_first_text_outside_upstream_median_ms": percentile(first_outside, 50),
    }


def front_table(run: FrontRun) -> str:
    from evals.table import format_table

    headers = ["clients", "pairs", "added median ms", "added median ms, file requests", "added first text ms",
               "pairs timed by the upstream", "added outside the upstream's compute ms",
               "added to first text outside the upstream's prompt ms",
               "upstream tokens direct", "upstream tokens front", "front / direct tokens"]  # fmt: skip
    rows = [[clients, c["pairs"], c["added_median_ms"], c["added_file_median_ms"], c["added_first_text_median_ms"],
             c["upstream_timed_pairs"], c["added_outside_upstream_median_ms"],
             c["added_first_text_outside_upstream_median_ms"],
             int(c["upstream_tokens_direct"]), int(c["upstream_tokens_front"]), f"{c['upstream_tokens_ratio']:.2f}x"]
            for clients, c in run.comparison.items()]  # fmt: skip
    table = format_table(headers, rows)
    if not run.fresh_passes:
        table += (
            "\nnote: the upstream's prompt cache could not be erased between passes, so later passes may find "
            "earlier ones' prompts cached; start llama-server with --slot-save-path DIR --cache-ram 0 to compare "
            "fresh passes"
        )
    return table


def check_front(args: Any) -> None:
    """`--front` compares against llama.cpp's `/infill` on the front's upstream: nothing else."""
    if args.backend != "llama.cpp":
        raise EvalError("--front compares the front with its upstream: use --backend llama.cpp --url UPSTREAM "
                        "(the URL the front's --engine llama.cpp=UPSTREAM names)")  # fmt: skip
    if args.compare:
        raise EvalError("--front and --compare cannot be combined: --front is the one other backend")
    if not args.front.startswith(("http://", "https://")):
        raise EvalError(f"--front must be the URL of a `codegemma serve`, not {args.front!r}")
