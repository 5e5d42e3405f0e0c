# Change calendar: maintenance windows and change freezes, from data.rapp.calendar, against the
# input's "now" (RFC 3339). A freeze blocks every change to the targets it names (a class or
# target name, matched like NF classes: "free5gc-upf" covers "free5gc-upf-site-03"; "*" all);
# a maintenance window blocks only the actions it lists, so healing may go on during a
# capacity freeze if the operator says so.
package rapp.checks.calendar

import rego.v1

import data.rapp.scaling.action
import data.rapp.scaling.names_class
import data.rapp.scaling.target

now_ns := time.parse_rfc3339_ns(input.now) if is_string(input.now)

# Named paths, not object.get(data.rapp, ...): data.rapp holds this package's own rules too.
calendar := data.rapp.calendar if is_array(data.rapp.calendar) else := []

deny contains msg if {
	some entry in calendar
	_covers(entry)
	msg := sprintf("%s: %s until %s: %s", [
		target, object.get(entry, "kind", "freeze"), entry.end, object.get(entry, "reason", "no reason given"),
	])
}

deny contains msg if {
	calendar != []
	not now_ns
	msg := sprintf("%s: the input has no valid now, so the change calendar cannot be checked", [target])
}

# Cheap tests first: most entries name other targets, and parsing times is the costly part.
_covers(entry) if {
	is_array(entry.targets)
	_names_target(entry)
	_blocks_action(entry)
	is_string(entry.start)
	is_string(entry.end)
	time.parse_rfc3339_ns(entry.start) <= now_ns
	now_ns < time.parse_rfc3339_ns(entry.end)
}

_names_target(entry) if "*" in entry.targets

_names_target(entry) if {
	some name in entry.targets
	names_class(target, name)
}

_blocks_action(entry) if not entry.actions

_blocks_action(entry) if action in entry.actions
