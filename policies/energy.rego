# Energy-saving guard for "sleep" decisions (switch cells off while they are not needed): a
# cell may sleep only if its class allows it (data.rapp.cell_classes: class -> {may_sleep,
# busy_hours {start, end} as "HH:MM"}), never in its class's busy hours, and only while its
# neighbours, which take its users, are forecast below data.rapp.energy.max_neighbour_load
# (PRB %). The decision's evidence carries, per cell, its class (cell_classes) and the
# forecast peak load of its neighbours (neighbour_load). Busy hours are read in
# data.rapp.energy.timezone (an IANA name, UTC by default).
package rapp.checks.energy

import rego.v1

import data.rapp.scaling.action
import data.rapp.scaling.decision
import data.rapp.scaling.evidence
import data.rapp.scaling.target

energy := data.rapp.energy if is_object(data.rapp.energy) else := {}

classes := data.rapp.cell_classes if is_object(data.rapp.cell_classes) else := {}

cells := object.get(decision, "cells", []) if action == "sleep"

# Per-cell evidence as a map; anything else reads as empty, so every cell is refused.
_per_cell(key) := m if {
	m := object.get(evidence, key, {})
	is_object(m)
} else := {}

cell_class(cell) := object.get(_per_cell("cell_classes"), cell, "<none>")

neighbour_load(cell) := object.get(_per_cell("neighbour_load"), cell, null)

deny contains msg if {
	some cell in cells
	not object.get(classes, cell_class(cell), {}).may_sleep == true
	msg := sprintf("%s: cell %s of class %s may not sleep (classes that may: %s)", [
		target, cell, cell_class(cell),
		concat(", ", sort([name | some name, c in classes; c.may_sleep == true])),
	])
}

# Minutes since midnight in the operator's time zone.
minute_of_day := (clock[0] * 60) + clock[1] if {
	is_string(input.now)
	clock := time.clock([time.parse_rfc3339_ns(input.now), object.get(energy, "timezone", "UTC")])
}

# "HH:MM": to_number does not take "07" alike in every engine, so each part is read as "1HH"
# less 100 (sanity.rego holds the data to the HH:MM shape).
_minutes(hhmm) := ((_two_digits(parts[0]) * 60) + _two_digits(parts[1])) if {
	parts := split(hhmm, ":")
	count(parts) == 2
}

_two_digits(s) := to_number(concat("", ["1", s])) - 100

# A window that wraps midnight (22:00 to 06:00) is busy before its end or after its start.
_within(m, start, end) if {
	start <= end
	start <= m
	m < end
}

_within(m, start, end) if {
	start > end
	m >= start
}

_within(m, start, end) if {
	start > end
	m < end
}

deny contains msg if {
	some cell in cells
	busy := classes[cell_class(cell)].busy_hours
	_within(minute_of_day, _minutes(busy.start), _minutes(busy.end))
	msg := sprintf("%s: cell %s may not sleep in the busy hours of class %s (%s to %s, %s)", [
		target, cell, cell_class(cell), busy.start, busy.end, object.get(energy, "timezone", "UTC"),
	])
}

deny contains msg if {
	some cell in cells
	not is_number(neighbour_load(cell))
	msg := sprintf("%s: cell %s has no forecast load of its neighbours, so it may not sleep", [target, cell])
}

deny contains msg if {
	some cell in cells
	load := neighbour_load(cell)
	is_number(load)
	limit := energy.max_neighbour_load
	load > limit
	msg := sprintf("%s: cell %s may not sleep: its neighbours are forecast at %v%% PRB, more than %v%%", [
		target, cell, load, limit,
	])
}

deny contains msg if {
	action == "sleep"
	not minute_of_day
	msg := sprintf("%s: the input has no valid now, so busy hours cannot be checked", [target])
}
