"""The quality and speed tables are rendered from their results JSON, every row and estimator present."""

from __future__ import annotations

from faultdx.results_signal import render_quality, render_speed_estimation

CAPTION = {"commit": "abc1234", "date": "2026-12-07", "machine": {}, "command": "bench"}


def test_quality_table() -> None:
    row = {"count": 10, "caught": 10, "right_kind": 9}
    data = {"injections": {"flat line": "flat_line", "white noise": "no_machine"},
            "injected_caught": {f"{name}|{d}": {**row, "share": 1.0, "right_kind_share": 0.9}
                                for name in ("flat line", "white noise") for d in ("cwru", "hit")},
            "clean_flagged": {"cwru/whole": {"count": 36, "caught": 0, "share": 0.0}},
            "missed_examples": []}
    text = render_quality({**CAPTION, "data": data})
    want = ("| flat line (`flat_line`) | 100.0 % (10/10) | 100.0 % (10/10) | 100.0 % (20/20) "
            "| 90.0 % (18/20) |")
    assert want in text
    assert "| cwru/whole | 0.0 % (0/36) |" in text


def test_speed_table_puts_the_estimators_side_by_side() -> None:
    def row(share: float) -> dict:
        return {"count": 9, "within_1pct": share, "within_2pct": share, "within_5pct": share,
                "median_abs_pct_error": 0.1, "ambiguous": 0.1, "wrong_unflagged": 0.0}

    data = {"estimators": {"old": "raw", "new": "joint"}, "lengths": {"1s": "1 s"},
            "groups": {"mfpt/1s/old": row(0.5), "mfpt/1s/new": row(0.75)}}
    text = render_speed_estimation({**CAPTION, "data": data})
    assert "| mfpt/1s | 9 | 50.0 % (50 %) | 75.0 % (75 %) | 10.0 % | 0.0 % |" in text


def test_fault_type_by_speed_source_table() -> None:
    from faultdx.results_signal import render_speed_fault_type

    row = {"recordings": 21, "recordings_right": 19, "windows": 100, "windows_right": 88, "bad_signal": 0,
           "speed_within_1pct": 14, "window_accuracy": 0.88, "recording_accuracy": 0.9048,
           "speed_within_1pct_share": 0.6667}
    text = render_speed_fault_type({**CAPTION, "data": {"model": "m", "groups": {"hit_mfs/no rpm": row}}})
    assert "| hit_mfs/no rpm | 88.0 % (88/100) | 90.5 % (19/21) | – | 0 | 67 % |" in text
    row["uncertain"] = 2
    text = render_speed_fault_type({**CAPTION, "data": {"model": "m", "groups": {"hit_mfs/no rpm": row}}})
    assert "| hit_mfs/no rpm | 88.0 % (88/100) | 90.5 % (19/21) | 2 | 0 | 67 % |" in text
