import numpy as np
import pandas as pd
import pytest

from rapp.domain import PRB_UTIL_DL
from rapp.state import CellState

GRAN = 900


def frame(cells: list[str], end: str, values: list[float]) -> pd.DataFrame:
    idx = pd.MultiIndex.from_arrays(
        [cells, pd.DatetimeIndex([pd.Timestamp(end, tz="UTC")] * len(cells))],
        names=["cell", "period_end"],
    )
    return pd.DataFrame({PRB_UTIL_DL: values}, index=idx)


def test_window_returns_history_per_cell_with_gaps_as_nan():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=8)
    state.ingest(frame(["a", "b"], "2026-01-01T00:15Z", [10, 20]))
    state.ingest(frame(["a"], "2026-01-01T00:30Z", [11]))  # b missed this ROP
    state.ingest(frame(["a", "b"], "2026-01-01T00:45Z", [12, 22]))
    window = state.window(PRB_UTIL_DL, pd.Timestamp("2026-01-01T00:45Z"), 4)
    assert list(state.cells) == ["a", "b"]
    np.testing.assert_array_equal(window[0], [np.nan, 10, 11, 12])
    np.testing.assert_array_equal(window[1], [np.nan, 20, np.nan, 22])


def test_rop_closes_when_all_cells_reported_or_a_later_rop_starts():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=8)
    first = state.ingest(frame(["a", "b"], "2026-01-01T00:15Z", [1, 2]))
    assert first == [pd.Timestamp("2026-01-01T00:15Z")]  # every known cell reported
    assert state.ingest(frame(["a"], "2026-01-01T00:30Z", [1])) == []  # b still missing
    closed = state.ingest(frame(["a"], "2026-01-01T00:45Z", [1]))
    assert closed == [pd.Timestamp("2026-01-01T00:30Z")]  # superseded by a later ROP


def test_ring_recycles_old_slots_and_ignores_rows_older_than_retention():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=3)
    start = pd.Timestamp("2026-01-01T00:00Z")
    for i in range(1, 6):
        state.ingest(frame(["a"], str(start + i * pd.Timedelta(minutes=15)), [float(i)]))
    end = start + 5 * pd.Timedelta(minutes=15)
    np.testing.assert_array_equal(state.window(PRB_UTIL_DL, end, 3)[0], [3, 4, 5])
    state.ingest(frame(["a"], str(start + pd.Timedelta(minutes=15)), [99.0]))  # far too old
    np.testing.assert_array_equal(state.window(PRB_UTIL_DL, end, 3)[0], [3, 4, 5])
    with pytest.raises(ValueError, match="exceeds retention"):
        state.window(PRB_UTIL_DL, end, 4)


def test_keeping_more_rops_keeps_what_is_held_and_holds_more_from_then_on():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=3)
    start = pd.Timestamp("2026-01-01T00:00Z")
    step = pd.Timedelta(minutes=15)
    for i in range(1, 6):  # ROPs 3, 4, 5 held, in slots 0, 1, 2 of the ring of three
        state.ingest(frame(["a", "b"], str(start + i * step), [float(i), 10.0 * i]))
    state.keep(2)  # never shrinks
    assert state.retention == 3
    state.keep(7)
    end = start + 5 * step
    np.testing.assert_array_equal(state.window(PRB_UTIL_DL, end, 3), [[3, 4, 5], [30, 40, 50]])
    for i in range(6, 10):
        closed = state.ingest(frame(["a", "b"], str(start + i * step), [float(i), 10.0 * i]))
        assert closed == [start + i * step]  # still closes ROPs as they complete
    np.testing.assert_array_equal(
        state.window(PRB_UTIL_DL, start + 9 * step, 7)[0], [3, 4, 5, 6, 7, 8, 9]
    )
    state.ingest(frame(["a"], str(start + 2 * step), [99.0]))  # older than the new retention
    assert state.skipped["too_old"] == 1


def test_keeping_more_after_a_time_jump_does_not_let_stale_rops_overwrite_live_ones():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=4, max_jump=1)
    start = pd.Timestamp("2026-01-01T00:00Z")
    step = pd.Timedelta(minutes=15)
    for i in (1, 2, 3):
        state.ingest(frame(["a"], str(start + i * step), [float(i)]))
    for _ in range(2):  # a jump, confirmed by a second batch past it
        state.ingest(frame(["a"], str(start + 8 * step), [8.0]))
    for retention in (5, 6, 7):
        state.keep(retention)
        assert state.window(PRB_UTIL_DL, start + 8 * step, 1)[0, 0] == 8.0, retention


def test_many_cells_grow_the_buffers():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=4, initial_cells=2)
    cells = [f"c{i}" for i in range(1000)]
    state.ingest(frame(cells, "2026-01-01T00:15Z", list(range(1000))))
    window = state.window(PRB_UTIL_DL, pd.Timestamp("2026-01-01T00:15Z"), 1)
    assert window.shape == (1000, 1)
    assert window[999, 0] == 999


def test_a_late_report_fills_history_but_does_not_close_its_rop_again():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=8)
    state.ingest(frame(["a", "b"], "2026-01-01T00:15Z", [1, 2]))
    assert state.ingest(frame(["a"], "2026-01-01T00:30Z", [3])) == []
    assert state.ingest(frame(["a", "b"], "2026-01-01T00:45Z", [5, 6])) == [
        pd.Timestamp("2026-01-01T00:30Z"),
        pd.Timestamp("2026-01-01T00:45Z"),
    ]
    assert state.ingest(frame(["b"], "2026-01-01T00:30Z", [4])) == []  # late, already closed
    window = state.window(PRB_UTIL_DL, pd.Timestamp("2026-01-01T00:45Z"), 2)
    np.testing.assert_array_equal(window[1], [4, 6])


def _network(end: str, n: int = 10, value: float = 50.0) -> pd.DataFrame:
    return frame([f"c{i}" for i in range(n)], end, [value] * n)


def test_a_junk_future_time_from_one_node_is_held_then_dropped():
    """One node's bad clock must not close open ROPs early or push real data out of retention."""
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=8)
    assert state.ingest(_network("2026-01-01T00:15Z")) == [pd.Timestamp("2026-01-01T00:15Z")]
    partial = frame(["c0", "c1"], "2026-01-01T00:30Z", [1, 2])
    junk = frame(["c9"], "2099-01-01T00:00Z", [99])
    assert state.ingest(pd.concat([partial, junk])) == []  # 00:30 stays open
    assert state.latest_rop == pd.Timestamp("2026-01-01T00:30Z")
    assert state.ingest(frame(["c9"], "2099-01-01T00:00Z", [99])) == []  # same node again
    assert state.skipped["unconfirmed_jump"] == 0  # still held
    # the stream goes on where it was: the rest of 00:30 then 00:45 opens
    assert state.ingest(_network("2026-01-01T00:30Z")) == [pd.Timestamp("2026-01-01T00:30Z")]
    state.ingest(frame(["c0"], "2026-01-01T00:45Z", [3]))
    assert state.skipped["unconfirmed_jump"] == 2
    assert state.latest_rop == pd.Timestamp("2026-01-01T00:45Z")
    window = state.window(PRB_UTIL_DL, pd.Timestamp("2026-01-01T00:45Z"), 3)
    np.testing.assert_array_equal(window[0], [50, 50, 3])


def test_a_real_jump_is_taken_once_most_cells_report_past_it():
    """After a collection outage the whole network resumes hours later: that is a real jump."""
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=8)
    state.ingest(_network("2026-01-01T00:15Z"))
    assert state.ingest(_network("2026-01-01T06:00Z", n=3)) == []  # 3 of 10 cells: held
    closed = state.ingest(frame([f"c{i}" for i in range(3, 10)], "2026-01-01T06:00Z", [7] * 7))
    assert state.latest_rop == pd.Timestamp("2026-01-01T06:00Z")
    assert closed == [pd.Timestamp("2026-01-01T06:00Z")]  # every cell has reported it
    np.testing.assert_array_equal(
        state.window(PRB_UTIL_DL, pd.Timestamp("2026-01-01T06:00Z"), 1)[:, 0], [50] * 3 + [7] * 7
    )
    assert sum(state.skipped.values()) == 0


def test_a_backlog_batch_spanning_several_rops_is_no_jump():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=16)
    state.ingest(_network("2026-01-01T00:15Z"))
    backlog = pd.concat([_network(f"2026-01-01T{h:02d}:{m:02d}Z") for h in (0, 1) for m in (0, 30)])
    backlog = backlog[backlog.index.get_level_values(1) > pd.Timestamp("2026-01-01T00:15Z")]
    closed = state.ingest(pd.concat([backlog, _network("2026-01-01T02:00Z")]))
    assert state.latest_rop == pd.Timestamp("2026-01-01T02:00Z")
    assert closed[-1] == pd.Timestamp("2026-01-01T02:00Z")


def test_period_ends_a_few_seconds_off_land_in_their_rop():
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=8)
    state.ingest(frame(["a"], "2026-01-01T00:14:58Z", [1]))
    state.ingest(frame(["b"], "2026-01-01T00:15:03Z", [2]))
    window = state.window(PRB_UTIL_DL, pd.Timestamp("2026-01-01T00:15Z"), 1)
    np.testing.assert_array_equal(window[:, 0], [1, 2])


@pytest.mark.parametrize("bad", [{"granularity_s": 0}, {"max_jump": 0}, {"retention": 1}])
def test_bad_parameters_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must"):
        CellState([PRB_UTIL_DL], **bad)
