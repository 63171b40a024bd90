"""Continuous batching: one thread runs the model for every request, decoding them together.

On a CPU a decode step reads every weight once whatever the batch size, so
four requests decoded together cost little more than one. The scheduler
keeps a set of running requests and runs one decode step for all of them at
a time; between every `DECODE_STEPS_PER_CHUNK` steps (or whenever nothing is
decoding) it reads one prompt chunk of a request that has arrived. Running
requests are the nearest to done, so they go first, and a long prompt never
stalls them for more than a chunk.
A prefill-only request (`max_tokens` 0, sent to warm the prompt cache before
the user asks) is background work: its prompt chunks run only when no other
request is reading its prompt or decoding, so it never delays one.
A request alone in the batch decodes with speculation (`engine.speculation`);
several decode one token each in one padded forward pass. A cancelled
request (superseded, its client gone) leaves at its next token, and its slot
is free at once.

Each request keeps its own KV cache (from the prompt cache pool); a batched
step pads them on the left to one length, runs the step, and appends each
row's new key and value to its own cache, so requests can join and leave
between any two steps.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

from engine.generation import PREFILL_CHUNK, Decoding, Generated, decode_step, next_token
from engine.prompt_cache import Shifted

log = logging.getLogger(__name__)

#: Requests decoded together at most; more wait for a free slot.
DEFAULT_MAX_BATCH = 8
#: Decode steps of the running requests between two prompt chunks of a waiting one.
DECODE_STEPS_PER_CHUNK = 16
#: How often a caller waiting for a slot checks whether it was cancelled (seconds).
CANCEL_POLL_S = 0.05


@dataclass
class Job:
    """One request's work: its prompt, cache and decoding state, and where the answer goes."""

    ids: list[int]
    cache: Any
    state: Decoding
    #: Called with the cache when the job ends well (it goes back to the prompt cache pool).
    release: Callable[[Any], None]
    #: Prompt tokens already in `cache`.
    filled: int = 0
    #: Runs of the prompt taken from the prompt cache at shifted positions, put in instead of read (`--cache-reuse`).
    shifted: list[Shifted] = field(default_factory=list)
    begun: bool = False
    logits: torch.Tensor | None = None
    #: Accepted draft tokens whose KV is already in the cache, fed before the next pick.
    confirmed: list[int] = field(default_factory=list)
    #: The last token fed but not yet run through the model.
    pending: int | None = None
    result: Generated | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    #: Taken by the scheduler when it admits the job, or by the caller giving up before that.
    claim: threading.Lock = field(default_factory=threading.Lock)

    @property
    def prefill_only(self) -> bool:
        """Read the prompt into the cache and generate nothing (background work)."""
        return self.state.max_tokens <= 0


class BatchScheduler:
    """Runs `Job`s on `model` in one worker thread, decoding up to `max_batch` of them per step."""

    def __init__(self, model: Any, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.model = model
        self.max_batch = max_batch
        self._incoming: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        #: Largest number of requests decoded in one step so far (for logs and tests).
        self.widest_batch = 0
        #: torch threads for the model, as set when the scheduler was made (`--threads`); the worker thread
        #: sets them for itself, whatever another thread's `engine.loading.one_thread` left as the default.
        self.threads = torch.get_num_threads()

    def run(self, job: Job) -> Generated:
        """Queue `job` and wait for it; raises what the model raised for it."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="batch-scheduler", daemon=True)
                self._thread.start()
        self._incoming.put(job)
        while not job.done.wait(CANCEL_POLL_S):
            if job.state.cancelled and job.claim.acquire(blocking=False):
                # Cancelled while every slot was busy: the scheduler will skip it.
                job.result = job.state.result()
                job.release(job.cache)
                return job.result
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._incoming.put(None)
            self._thread.join(timeout=10)

    # --- the worker thread -------------------------------------------------------

    def _loop(self) -> None:
        filling: list[Job] = []
        running: list[Job] = []
        steps_since_fill = 0
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                while self._admit(filling, running):
                    for job in filling:
                        if job.state.cancelled:  # superseded while waiting for its prompt chunk
                            self._end(job)
                    filling = [j for j in filling if not j.done.is_set()]
                    job = next_to_fill(filling, running, steps_since_fill)
                    if job is not None:
                        steps_since_fill = 0
                        if self._guard(job, self._fill, job):
                            filling.remove(job)
                            if not job.prefill_only and self._guard(job, self._advance, job):
                                running.append(job)
                            else:  # a prefill-only job ends with its prompt in the cache
                                self._end(job)
                    running = [j for j in running if not j.done.is_set()]
                    if running:
                        steps_since_fill += 1
                        self.widest_batch = max(self.widest_batch, len(running))
                        for job in self._decode(running):
                            self._end(job)
                        running = [j for j in running if not j.done.is_set()]
        except BaseException as exc:  # a bug here must not leave callers waiting for ever
            log.exception("the batch scheduler stopped")
            for job in filling + running:
                job.error = job.error or exc
                self._end(job)
            raise

    def _admit(self, filling: list[Job], running: list[Job]) -> bool:
        """Move arrived jobs into `filling` while slots are free (waiting when idle); False on close."""
        block = not filling and not running
        while len(filling) + len(running) < self.max_batch:
            try:
                job = self._incoming.get(block=block)
            except queue.Empty:
                return True
            if job is None:
                for j in filling + running:
                    self._end(j)
                return False
            if not job.claim.acquire(blocking=False):
                continue  # its caller gave up waiting
            filling.append(job)
            block = False
        return True

    def _guard(self, job: Job, work: Callable[[Job], bool], *args: Any) -> bool:
        """Run `work`; a failure ends that job (with the error), never the scheduler."""
        try:
            return work(*args)
        except Exception as exc:  # handed to the waiting caller, which raises it
            log.exception("request failed in the model")
            job.error = exc
            self._end(job)
            return False

    def _fill(self, job: Job) -> bool:
        """Run the next prompt chunk of `job`; True when its whole prompt is in."""
        if not job.begun:
            # Prompt time counts from here: the wait for a slot is the client's, not the prompt's.
            job.state.started = job.state.prompt_done = time.perf_counter()
            job.begun = True
        while job.shifted and job.shifted[0].at == job.filled:
            job.filled += job.shifted.pop(0).put(job.cache)
        end = job.shifted[0].at if job.shifted else len(job.ids)
        chunk = job.ids[job.filled : min(job.filled + PREFILL_CHUNK, end)]
        out = self.model(input_ids=torch.tensor([chunk], dtype=torch.long), past_key_values=job.cache,
                         use_cache=True, logits_to_keep=1)  # fmt: skip
        job.filled += len(chunk)
        if job.filled < len(job.ids):
            return False
        job.logits = out.logits[0, -1]
        job.state.prefilled()
        return True

    def _advance(self, job: Job) -> bool:
        """Feed tokens until one has to go through the model (`job.pending`); False when the job is over."""
        job.pending = next_token(job.state, job.confirmed, job.logits)
        return job.pending is not None

    def _decode(self, running: list[Job]) -> list[Job]:
        """One decode step for every running job; returns the jobs that ended."""
        ended: list[Job] = []
        if len(running) == 1:
            job = running[0]
            try:
                job.logits, job.confirmed = decode_step(self.model, job.cache, job.state, job.pending)
                if not self._advance(job):
                    ended.append(job)
            except Exception as exc:
                job.error = exc
                ended.append(job)
            return ended
        try:
            rows = batched_step(self.model, [j.cache for j in running], [j.pending for j in running])
        except Exception as exc:
            log.exception("batched decode step failed")
            for job in running:
                job.error = exc
            return list(running)
        for job, logits in zip(running, rows):
            job.state.passes += 1
            job.logits = logits
            if not self._guard(job, self._advance, job):
                ended.append(job)
        return ended

    def _end(self, job: Job) -> None:
        if job.done.is_set():
            return
        try:
            if job.error is None:
                job.result = job.state.result()
        except Exception as exc:
            job.error = exc
        finally:
            try:
                if job.error is None:  # after an error the cache may be half-written: not kept
                    job.release(job.cache)
            finally:
                job.done.set()


def next_to_fill(filling: list[Job], running: list[Job], steps_since_fill: int) -> Job | None:
    """The job whose next prompt chunk runs now, if any.

    Running requests are nearest to done, so their decode steps go first; a
    prompt chunk of a waiting request comes every so many steps, so none waits
    for ever. Prefill-only jobs go last: only when nothing else reads or decodes.
    """
    if running and steps_since_fill < DECODE_STEPS_PER_CHUNK:
        return None
    job = next((j for j in filling if not j.prefill_only), None)
    if job is None and filling and not running:
        job = filling[0]
    return job


def batched_step(model: Any, caches: list[Any], tokens: list[int]) -> list[torch.Tensor]:
    """Run one token per cache through the model as one batch; append each row's KV to its cache.

    Returns each row's next-token logits. Caches of different lengths are
    left-padded to the longest, and the padding is masked out.
    """
    lengths = [c.get_seq_length() for c in caches]
    width = max(lengths)
    from transformers import DynamicCache

    batch = DynamicCache(config=model.config)
    layer_count = len(caches[0].layers)
    for index in range(layer_count):
        keys = torch.cat([F.pad(c.layers[index].keys, (0, 0, width - n, 0)) for c, n in zip(caches, lengths)])
        values = torch.cat([F.pad(c.layers[index].values, (0, 0, width - n, 0)) for c, n in zip(caches, lengths)])
        batch.update(keys, values, index)
    mask = torch.zeros((len(caches), width + 1), dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, width - n :] = 1
    out = model(
        input_ids=torch.tensor([[t] for t in tokens], dtype=torch.long),
        attention_mask=mask,
        position_ids=torch.tensor([[n] for n in lengths], dtype=torch.long),
        past_key_values=batch,
        use_cache=True,
    )
    for index in range(layer_count):
        layer = batch.layers[index]
        for row, cache in enumerate(caches):
            cache.update(layer.keys[row : row + 1, :, -1:, :], layer.values[row : row + 1, :, -1:, :], index)
    return [out.logits[row, -1] for row in range(len(caches))]
