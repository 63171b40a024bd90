"""The short run of `python -m evals.fuzz_lsp` (issue #12): raw JSON-RPC abuse over stdio, in seconds.

Every class of bad input (broken headers, wrong lengths, non-JSON bodies, wrong
types, unknown methods, far positions, lone surrogates, unopened documents,
cancels) plus a 10 MB document and requests after shutdown; slow generations
are started along the way and `codegemma/stats` must be answered in under
100 ms while they run (the event loop never blocks on the model).
"""

from __future__ import annotations

import pytest

from evals.fuzz_lsp import CASES, LOOP_BOUND_MS, run


@pytest.mark.parametrize("seed", [1, 2])
def test_a_short_fuzz_run_has_no_crash_hang_lost_answer_or_blocked_loop(seed):
    report = run(cases=120, seed=seed, loop_every=40)
    assert report.ok(), report.failures
    assert report.cases == 120
    assert report.loop_checks >= 3
    assert report.loop_max_ms < LOOP_BOUND_MS
    assert report.after_shutdown_ok
    # the seeded mix reached every class, the 10 MB document included
    assert set(report.by_class) == set(CASES), report.by_class
