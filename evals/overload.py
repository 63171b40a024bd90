"""Overload the HTTP server: many clients against a small `--max-pending` (issue #12).

  python -m evals.overload --clients 32 --max-pending 8 --minutes 10
  python -m evals.overload --clients 12 --max-pending 4 --seconds 10   # the short version the tests run

Starts `codegemma serve` on the tiny random model (evals/tiny_model.py: the scheduling, streaming and
refusals are the real ones, the completions random text) and runs `--clients` clients for the given time,
each sending one request after another: plain and streamed `/infill` and `/v1/completions`, and streams
it hangs up on after the first event. Every request ends one of three ways:

- answered: a 200 with a whole body (JSON, or a stream up to its last event), or a stream the client left;
- refused: a 503 with `Retry-After` (the client waits that long, give or take, and goes on);
- lost: anything else (an error, a timeout, a cut stream, another status), which must never happen.

The server's resident memory (VmRSS) is sampled throughout; after the clients stop, `/health` must
report no request pending (no slot stuck by a client that left mid-stream).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from evals.results import print_figures
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evals.server_process import ServerProcess, serve

#: Seconds between memory samples.
RSS_EVERY_S = 2.0
#: Seconds a single request may take before it counts as lost.
REQUEST_TIMEOUT_S = 120.0
KINDS = ("infill", "completions", "infill-stream", "completions-stream", "stream-hang-up")


@dataclass
class OverloadReport:
    clients: int
    max_pending: int
    seconds: float
    sent: int = 0
    answered: int = 0
    #: Of the answered: streams the client left after the first event.
    hung_up: int = 0
    refused: int = 0
    lost: int = 0
    #: Why each lost request was lost (status or error), to fix.
    lost_reasons: dict[str, int] = field(default_factory=dict)
    rss_mb_first: float = 0.0
    rss_mb_last: float = 0.0
    rss_mb_max: float = 0.0
    rss_samples: int = 0
    #: Resident memory at each tenth of the run (11 values, start to end): flat after warm-up, or growing.
    rss_mb_tenths: list[float] = field(default_factory=list)
    #: Growth over the second half of the run (end minus middle): a leak shows here, warm-up does not.
    rss_mb_second_half_growth: float = 0.0
    #: `/health`'s pending count once the clients have stopped (and a few seconds for the last to finish).
    pending_after: int | None = None
    healthy_after: bool = False

    @property
    def clean(self) -> bool:
        return (
            self.lost == 0
            and self.pending_after == 0
            and self.healthy_after
            and self.sent == (self.answered + self.refused)
        )


def request_for(kind: str, rng: random.Random) -> tuple[str, dict]:
    lines = [f"    value_{i} = compute({i}, {rng.randint(0, 999)})\n" for i in range(rng.randint(1, 60))]
    prefix = "def work():\n" + "".join(lines) + "    return "
    tokens = rng.randint(4, 24)
    if kind.startswith("completions"):
        return "/v1/completions", {"prompt": prefix, "suffix": "\n", "max_tokens": tokens, "stream": "stream" in kind}
    return "/infill", {"input_prefix": prefix, "input_suffix": "\n", "n_predict": tokens, "path": f"f{rng.randint(0, 9)}.py",
                       "stream": "stream" in kind or kind == "stream-hang-up"}  # fmt: skip


async def one_request(client: httpx.AsyncClient, url: str, kind: str, rng: random.Random) -> tuple[str, float]:
    """`(outcome, retry_after)`: outcome is answered, hung-up, refused or `lost: why`."""
    route, body = request_for(kind, rng)
    async with client.stream("POST", f"{url}{route}", json=body) as r:
        if r.status_code == 503:
            retry = r.headers.get("retry-after")
            await r.aread()
            return ("refused", float(retry)) if retry else ("lost: 503 without Retry-After", 0.0)
        if r.status_code != 200:
            return f"lost: status {r.status_code}", 0.0
        if not body["stream"]:
            json.loads(await r.aread())
            return "answered", 0.0
        last = None
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                last = line[len("data: ") :]
                if kind == "stream-hang-up":
                    return "hung-up", 0.0  # leaving the block closes the connection mid-stream
        if last == "[DONE]" or (last is not None and json.loads(last).get("stop") is True):
            return "answered", 0.0
        return "lost: stream ended without its last event", 0.0


async def client_loop(url: str, deadline: float, seed: int, outcomes: Counter[str]) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
        while time.monotonic() < deadline:
            kind = rng.choice(KINDS)
            try:
                outcome, retry_after = await one_request(client, url, kind, rng)
            except (httpx.HTTPError, ValueError) as exc:
                outcome, retry_after = f"lost: {type(exc).__name__}", 0.0
            outcomes[outcome] += 1
            if retry_after:
                await asyncio.sleep(retry_after * rng.uniform(0.5, 1.0))


async def sample_rss(server: ServerProcess, until: float, samples: list[float]) -> None:
    while time.monotonic() < until:
        samples.append(server.rss_mb())
        await asyncio.sleep(RSS_EVERY_S)
    samples.append(server.rss_mb())


async def drive(server: ServerProcess, clients: int, seconds: float, seed: int) -> tuple[Counter[str], list[float]]:
    outcomes: Counter[str] = Counter()
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    loops = [client_loop(server.url, deadline, seed * 1000 + i, outcomes) for i in range(clients)]
    await asyncio.gather(sample_rss(server, deadline, samples), *loops)
    return outcomes, samples


def overload(clients: int = 32, max_pending: int = 8, seconds: float = 600.0, *, seed: int = 0,
             model: Path | None = None) -> OverloadReport:  # fmt: skip
    from engine.bundled import cache_root
    from evals.tiny_model import build_tiny_model

    model = model or build_tiny_model(cache_root() / "tiny-random-qwen2")
    report = OverloadReport(clients=clients, max_pending=max_pending, seconds=seconds)
    with serve(model, "--max-pending", str(max_pending), "--context-tokens", "512") as server:
        outcomes, samples = asyncio.run(drive(server, clients, seconds, seed))
        settle = time.monotonic() + 15
        while True:
            health = server.health()
            if health.get("pending") == 0 or time.monotonic() > settle:
                break
            time.sleep(0.2)
        report.pending_after = health.get("pending")
        report.healthy_after = health.get("status") == "ok"
    report.sent = sum(outcomes.values())
    report.hung_up = outcomes["hung-up"]
    report.answered = outcomes["answered"] + report.hung_up
    report.refused = outcomes["refused"]
    report.lost_reasons = {k.removeprefix("lost: "): v for k, v in outcomes.items() if k.startswith("lost")}
    report.lost = sum(report.lost_reasons.values())
    report.rss_mb_first, report.rss_mb_last = round(samples[0], 1), round(samples[-1], 1)
    report.rss_mb_max, report.rss_samples = round(max(samples), 1), len(samples)
    report.rss_mb_tenths = [round(samples[round(i * (len(samples) - 1) / 10)], 1) for i in range(11)]
    report.rss_mb_second_half_growth = round(samples[-1] - samples[(len(samples) - 1) // 2], 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.overload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default: 32)")
    parser.add_argument("--max-pending", type=int, default=8, help="the server's --max-pending (default: 8)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--minutes", type=float, help="how long the clients run (default: 10)")
    group.add_argument("--seconds", type=float, help="the same in seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed for the clients' choices (default: 0)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes if args.minutes is not None else 10)
    report = overload(args.clients, args.max_pending, seconds, seed=args.seed)
    return print_figures(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
