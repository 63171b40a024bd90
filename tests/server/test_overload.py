"""Many clients against a small --max-pending (issue #12): the short run of `python -m evals.overload`."""

from __future__ import annotations

import pytest

from evals.overload import overload


@pytest.mark.slow
def test_every_request_is_answered_or_refused_and_no_slot_sticks(tiny_model_dir):
    report = overload(clients=12, max_pending=4, seconds=8, model=tiny_model_dir)
    assert report.lost == 0, report
    assert report.sent == report.answered + report.refused, report
    assert report.refused > 0 and report.answered > 0, report  # it really was overloaded, and it still served
    assert report.hung_up > 0, report  # some clients left mid-stream...
    assert report.pending_after == 0 and report.healthy_after, report  # ...and left no slot behind
    assert len(report.rss_mb_tenths) == 11 and report.rss_mb_tenths[-1] == report.rss_mb_last, report
