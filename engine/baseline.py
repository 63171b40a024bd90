"""The baseline our engine is measured against: plain `transformers` `generate`.

Same model, same prompt (fitted and formatted exactly as `LocalBackend` does),
but what a first implementation would do: float32 weights, a fresh prompt
every request (no KV cache kept), no speculation, and generation to
`max_tokens` unless the model emits eos or a FIM sentinel (or `cancel` is
set: checked after every token). Its text is cut at stop strings only. `codegemma bench latency --backend generate --compare local`
puts the two side by side in one run.
"""

from __future__ import annotations

import time
from typing import Any

from engine.backend import CancelToken, Completion, CompletionRequest, TextCallback, Timings
from engine.defaults import CONTEXT_TOKENS
from engine.local import fitted_prompt_ids
from engine.loading import LoadedModel
from fim.postprocess import StopStrings


class PlainGenerateBackend:
    """`model.generate` on the request's prompt, greedy or sampled, nothing else."""

    def __init__(self, lm: LoadedModel, *, context_tokens: int = CONTEXT_TOKENS) -> None:
        self.lm = lm
        self.context_tokens = context_tokens
        self.name = f"generate:{lm.name}"

    def complete(
        self,
        request: CompletionRequest,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        ids, truncated = fitted_prompt_ids(self.lm, request, self.context_tokens)
        stamps: list[float] = []

        class Clock(BaseStreamer):
            """Notes when each new token comes out (the first `put` is the prompt itself)."""

            def put(self, value: Any) -> None:
                stamps.append(time.perf_counter())

            def end(self) -> None:
                pass

        class Cancel(StoppingCriteria):
            """Ends generation at the next token once `cancel` is set, as every backend does."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                stop = cancel is not None and cancel.cancelled
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        sampling: dict[str, Any] = {"do_sample": False}
        if request.temperature > 0:
            sampling = {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p,
                        "top_k": request.top_k or None}  # fmt: skip
            if request.seed is not None:
                torch.manual_seed(request.seed)
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.lm.model.generate(
                torch.tensor([ids], dtype=torch.long),
                attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
                max_new_tokens=request.max_tokens,
                eos_token_id=sorted(self.lm.stop_ids),
                pad_token_id=min(self.lm.stop_ids),
                streamer=Clock(),
                stopping_criteria=StoppingCriteriaList([Cancel()]),
                **sampling,
            )
        done = time.perf_counter()
        new = [t for t in out[0, len(ids) :].tolist() if t not in self.lm.stop_ids]
        text = self.lm.tokenizer.decode(new, skip_special_tokens=False)
        stops = StopStrings((*self.lm.fim_format.family.stop_strings, *request.stop))
        found = stops.first(text)
        if found is not None:
            text = text[: found[0]]
        if on_text is not None and text:
            on_text(text)
        first_token = stamps[1] if len(stamps) > 1 else done
        hit_limit = len(out[0]) - len(ids) >= request.max_tokens
        cancelled = cancel is not None and cancel.cancelled and not hit_limit
        return Completion(
            text=text,
            finish_reason="cancelled" if cancelled else "length" if hit_limit else "stop",
            stop_type="none" if cancelled else "limit" if hit_limit else "eos",
            timings=Timings(prompt_tokens=len(ids), prompt_ms=(first_token - started) * 1000,
                            generated_tokens=len(out[0]) - len(ids), generate_ms=(done - first_token) * 1000),
            truncated=truncated,
            request_id=request.request_id,
        )  # fmt: skip

    def close(self) -> None:
        pass
