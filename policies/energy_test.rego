# Energy-saving guard. Busy hours of small cells: 07:00 to 22:00 UTC in the fixture.
package rapp.scaling_test

import rego.v1

_small := "SubNetwork=site-01,ManagedElement=gnb-0003,GNBDUFunction=1,NRCellDU=2"

_macro := "SubNetwork=site-01,ManagedElement=gnb-0003,GNBDUFunction=1,NRCellDU=1"

_sleep_base := object.union(object.remove(_base, ["capacity_from", "capacity_to"]), {
	"action": "sleep", "target": "du-gnb-0003", "cells": [_small],
	"evidence": {"cell_classes": {_small: "small", _macro: "macro"}, "neighbour_load": {_small: 35.5, _macro: 20}},
})

# A shallow merge, like _decision: an override of "evidence" replaces it whole.
_sleep(overrides, now) := {
	"now": now,
	"decision": object.union(object.remove(_sleep_base, object.keys(overrides)), overrides),
}

_night := "2026-11-24T02:30:00Z"

test_a_small_cell_sleeps_at_night_with_idle_neighbours if {
	v := _verdict(_sleep({}, _night))
	v.allow == true
	v.reasons == ["du-gnb-0003: sleep 1 cells to save energy"]
}

test_a_macro_cell_never_sleeps if {
	v := _verdict(_sleep({"cells": [_macro]}, _night))
	v.reasons == [sprintf("du-gnb-0003: cell %s of class macro may not sleep (classes that may: small)", [_macro])]
}

test_a_cell_of_no_known_class_does_not_sleep if {
	v := _verdict(_sleep({"cells": ["c9"], "evidence": {"neighbour_load": {"c9": 10}}}, _night))
	v.reasons == ["du-gnb-0003: cell c9 of class <none> may not sleep (classes that may: small)"]
}

test_no_sleep_in_busy_hours if {
	v := _verdict(_sleep({}, "2026-11-24T07:00:00Z"))
	v.reasons == [sprintf("du-gnb-0003: cell %s may not sleep in the busy hours of class small (07:00 to 22:00, UTC)", [_small])]
	_verdict(_sleep({}, "2026-11-24T22:00:00Z")).allow == true
	_verdict(_sleep({}, "2026-11-24T06:59:59Z")).allow == true
}

test_busy_hours_are_read_in_the_operators_time_zone if {
	# 06:30 UTC is 07:30 in Paris in November.
	v := _judge(_sleep({}, "2026-11-24T06:30:00Z"), {"energy": {"timezone": "Europe/Paris"}})
	v.allow == false
	_judge(_sleep({}, "2026-11-24T06:30:00Z"), {"energy": {"timezone": "UTC"}}).allow == true
}

test_busy_hours_may_wrap_midnight if {
	night_shift := {"cell_classes": {"small": {"busy_hours": {"start": "22:00", "end": "06:00"}}}}
	_judge(_sleep({}, "2026-11-24T23:00:00Z"), night_shift).allow == false
	_judge(_sleep({}, "2026-11-24T05:59:00Z"), night_shift).allow == false
	_judge(_sleep({}, "2026-11-24T12:00:00Z"), night_shift).allow == true
}

test_no_sleep_while_the_neighbours_are_loaded if {
	v := _verdict(_sleep({"evidence": {"cell_classes": {_small: "small"}, "neighbour_load": {_small: 75.5}}}, _night))
	v.reasons == [sprintf("du-gnb-0003: cell %s may not sleep: its neighbours are forecast at 75.5%% PRB, more than 60%%", [_small])]
}

test_no_sleep_without_the_neighbours_forecast if {
	v := _verdict(_sleep({"evidence": {"cell_classes": {_small: "small"}, "neighbour_load": {}}}, _night))
	v.allow == false
	v.reasons == [sprintf("du-gnb-0003: cell %s has no forecast load of its neighbours, so it may not sleep", [_small])]
}

test_no_sleep_without_a_valid_now if {
	v := _verdict(object.remove(_sleep({}, _night), ["now"]))
	v.allow == false
	"du-gnb-0003: the input has no valid now, so busy hours cannot be checked" in v.reasons
}

test_a_sleep_names_its_cells_and_changes_no_capacity if {
	v := _verdict(_sleep({"cells": [], "capacity_to": "1G"}, _night))
	v.reasons == ["du-gnb-0003: a sleep changes no capacity, but capacity_to is 1G", "du-gnb-0003: a sleep must name the cells to sleep"]
}
