"""reports/delaywords.py: the player's delay in words on the scorecard and in the email (it read 'estimated +50 ms,
not applied; hit share 98% as played, 100% at the estimate', which a new player could not follow)."""
from __future__ import annotations

from reports.delaywords import delay_words


def test_the_delay_line_says_late_or_early_and_whether_it_was_corrected():
    def line(est, applied, mode, at_zero=0.98, at_est=1.0):
        return delay_words({"delay": {"estimated_ms": est, "applied_ms": applied, "mode": mode,
                                 "hit_share_at_zero": at_zero, "hit_share_at_estimate": at_est}})
    assert line(50, 0, "fixed") == ("you played about 50 ms late; not corrected (--delay auto would): 98% of the "
                                    "notes' time hit as played, 100% with --delay auto")
    assert line(-30, -30, "auto") == ("you played about 30 ms early; corrected by -30 ms before scoring "
                                      "(--delay auto): 98% of the notes' time hit as played, 100% corrected")
    # a fixed --delay of its own: the share shown is the estimate's, named as such, not claimed for the player's 60
    assert line(80, 60, "fixed") == ("you played about 80 ms late; corrected by +60 ms before scoring (your --delay): "
                                     "98% of the notes' time hit as played, 100% with --delay auto")
    assert line(0, 0, "fixed", 1.0, 1.0) == "you played in time"
    assert line(None, 0, "fixed", 0.0, 0.0) == line(None, None, "auto", 0.0, 0.0) == "not measured (no note was hit)"
