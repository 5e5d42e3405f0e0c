"""Active FM alarms, as the latest state change per alarm.

VES and 3GPP deliver raises, changes and clears in any order and not exactly once: a clear may
come for an alarm never seen raised, or twice. Keeping only the newest event per alarm id, by
event time, makes the book the same whatever the order and however often an event repeats.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rapp.domain import Alarm


class AlarmBook:
    """The newest state of every alarm; cleared alarms leave the active set."""

    def __init__(self) -> None:
        self._latest: dict[str, Alarm] = {}

    def apply(self, alarms: Iterable[Alarm]) -> list[Alarm]:
        """Take alarm events in; returns those that changed the book (older events are ignored),
        which are what a journal has to keep."""
        changed: list[Alarm] = []
        for alarm in alarms:
            known = self._latest.get(alarm.alarm_id)
            if known is not None and (
                known.event_time > alarm.event_time
                or (known.event_time == alarm.event_time and known.cleared)
            ):
                continue  # older, or a tie with a clear: the clear wins, whatever the order
            self._latest[alarm.alarm_id] = alarm
            changed.append(alarm)
        return changed

    def active(self) -> list[Alarm]:
        """Raised and not cleared, newest first."""
        return sorted(
            (a for a in self._latest.values() if not a.cleared),
            key=lambda a: a.event_time,
            reverse=True,
        )

    def forget_cleared(self, before: datetime | None = None) -> None:
        """Drop cleared alarms (cleared ``before`` a time, when given) to bound memory; a late
        raise of one then counts as new."""
        self._latest = {
            k: a
            for k, a in self._latest.items()
            if not a.cleared or (before is not None and a.event_time >= before)
        }
