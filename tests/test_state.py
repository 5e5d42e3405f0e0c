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
