# Pace: how often one NF may change. The loop tells each decision what its target went through
# lately (input.history: changes_last_hour, enacted or under way, of the same kind - scaling or
# healing - and last_change, the ROP of the latest, RFC 3339 or null). data.rapp.pace:
# max_changes_per_hour and cooldown_minutes; either may be left out. Without a history, nothing
# is checked (a dry run); a history the rules cannot read is a denial.
package rapp.checks.pace

import rego.v1

import data.rapp.scaling.target

history := input.history if is_object(input.history)

pace := data.rapp.pace if is_object(data.rapp.pace) else := {}

now_ns := time.parse_rfc3339_ns(input.now) if is_string(input.now)

deny contains msg if {
	history
	not _well_formed
	msg := sprintf("%s: input.history %v is malformed (changes_last_hour a number, last_change a time or null)", [
		target, history,
	])
}

_well_formed if {
	is_number(history.changes_last_hour)
	_time_or_null(object.get(history, "last_change", null))
}

_time_or_null(t) if t == null

# A string that is not RFC 3339 fails in time.parse_rfc3339_ns: an engine error, so a denial.
_time_or_null(t) if is_string(t)

deny contains msg if {
	_well_formed
	limit := object.get(pace, "max_changes_per_hour", null)
	is_number(limit)
	history.changes_last_hour >= limit
	msg := sprintf("%s: %d changes in the last hour already, at most %d", [
		target, history.changes_last_hour, limit,
	])
}

deny contains msg if {
	_well_formed
	minutes := object.get(pace, "cooldown_minutes", null)
	is_number(minutes)
	is_string(history.last_change)
	since := now_ns - time.parse_rfc3339_ns(history.last_change)
	since < minutes * 60000000000
	msg := sprintf("%s: last changed %d minutes ago, cool-down is %d minutes", [
		target, floor(max([since, 0]) / 60000000000), minutes,
	])
}
