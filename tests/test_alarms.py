from datetime import UTC, datetime, timedelta

from rapp.alarms import AlarmBook
from rapp.domain import Alarm, Severity

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)


def alarm(severity: Severity, minutes: int, alarm_id: str = "O-RU-1/28") -> Alarm:
    return Alarm(alarm_id, "O-RU-1", "O-RU-1", "28", severity, T0 + timedelta(minutes=minutes))


def test_raise_then_clear_in_any_order_and_repeated():
    raised, cleared = alarm(Severity.CRITICAL, 0), alarm(Severity.CLEARED, 5)
    in_order, reversed_, repeated = AlarmBook(), AlarmBook(), AlarmBook()
    in_order.apply([raised, cleared])
    reversed_.apply([cleared, raised])  # the clear overtook the raise
    repeated.apply([raised, cleared, cleared, raised])
    assert in_order.active() == reversed_.active() == repeated.active() == []


def test_clear_without_raise_and_active_order():
    book = AlarmBook()
    assert len(book.apply([alarm(Severity.CLEARED, 1, "x/1")])) == 1
    book.apply([alarm(Severity.MAJOR, 2, "y/1"), alarm(Severity.CRITICAL, 3, "z/1")])
    assert [a.alarm_id for a in book.active()] == ["z/1", "y/1"]
    book.forget_cleared(before=T0)  # cleared after T0: kept, so an older raise is ignored
    assert book.apply([alarm(Severity.MINOR, 0, "x/1")]) == []
    book.forget_cleared()
    minor = alarm(Severity.MINOR, 0, "x/1")
    assert book.apply([minor]) == [minor]  # forgotten: a new raise counts
    assert len(book.active()) == 3


def test_a_clear_and_a_raise_with_the_same_time_end_cleared_in_either_order():
    raised, cleared = alarm(Severity.MAJOR, 3), alarm(Severity.CLEARED, 3)
    a, b = AlarmBook(), AlarmBook()
    a.apply([raised, cleared])
    b.apply([cleared, raised])
    assert a.active() == b.active() == []
