# The live data, checked once per revision: every limit, list and calendar the rules read, in
# the shape they read it. A reload whose data has a problem is refused (sanity_test.rego), the
# problem printed with its path, and the last good set keeps judging, so a typo in data.json
# never becomes a stream of denials, nor a silently skipped check.
package rapp.sanity

import rego.v1

import data.rapp.scaling.quantity

_hhmm := `^([01][0-9]|2[0-3]):[0-5][0-9]$`

# Named paths, not object.get(data.rapp, key): data.rapp holds this package's own rules too.
_section("nf_classes") := data.rapp.nf_classes

_section("protected_targets") := data.rapp.protected_targets

_section("protected_cells") := data.rapp.protected_cells

_section("slices") := data.rapp.slices

_section("cell_classes") := data.rapp.cell_classes

_section("a1_policy_types") := data.rapp.a1_policy_types

_section("api_roles") := data.rapp.api_roles

_section("confidence") := data.rapp.confidence

_section("blast_radius") := data.rapp.blast_radius

_section("pace") := data.rapp.pace

_section("energy") := data.rapp.energy

# A section as the rules read it: absent or not an object reads as empty.
_entries(key) := s if {
	s := _section(key)
	is_object(s)
} else := {}

problems contains sprintf("%s: must be a JSON object", [key]) if {
	some key in [
		"nf_classes", "protected_targets", "protected_cells", "slices", "cell_classes",
		"a1_policy_types", "api_roles", "confidence", "blast_radius", "pace", "energy",
	]
	not is_object(_section(key))
}

problems contains sprintf("nf_classes.%s.%s: %v is not a Kubernetes quantity", [name, bound, value]) if {
	some name, class in _entries("nf_classes")
	some bound in ["min", "max"]
	value := object.get(class, bound, null)
	value != null
	not quantity(value)
}

problems contains sprintf("nf_classes.%s: min %s is above max %s", [name, class.min, class.max]) if {
	some name, class in _entries("nf_classes")
	quantity(class.min) > quantity(class.max)
}

problems contains sprintf("nf_classes.%s.%s: %v must be %s", [name, key, value, what]) if {
	some name, class in _entries("nf_classes")
	some key, what in {"max_step_factor": "a number above 1", "max_heal_cells": "a number of at least 1"}
	value := object.get(class, key, null)
	value != null
	not _at_least(value, {"max_step_factor": 1.000001, "max_heal_cells": 1}[key])
}

_at_least(x, floor) if {
	is_number(x)
	x >= floor
}

problems contains sprintf("%s.%s: the reason must be text, not %v", [key, name, reason]) if {
	some key in ["protected_targets", "protected_cells"]
	some name, reason in _entries(key)
	not is_string(reason)
}

problems contains sprintf("calendar: %v is malformed (start and end RFC 3339, targets and actions lists)", [entry]) if {
	some entry in data.rapp.checks.calendar.calendar
	not _well_formed_entry(entry)
}

_rfc3339 := `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`

_well_formed_entry(entry) if {
	regex.match(_rfc3339, entry.start)
	regex.match(_rfc3339, entry.end)
	is_array(entry.targets)
	is_array(object.get(entry, "actions", []))
}

problems contains sprintf("calendar: must be a list, not %v", [data.rapp.calendar]) if {
	not is_array(data.rapp.calendar)
}

problems contains sprintf("slices.%s.guaranteed: %v is not a Kubernetes quantity", [name, value]) if {
	some name, slice in _entries("slices")
	value := object.get(slice, "guaranteed", null)
	not quantity(value)
}

problems contains sprintf("slices.%s.targets: must be a list of NF names", [name]) if {
	some name, slice in _entries("slices")
	not _strings(object.get(slice, "targets", null))
}

_strings(xs) if {
	is_array(xs)
	every x in xs {
		is_string(x)
	}
}

problems contains sprintf("cell_classes.%s.may_sleep: must be true or false", [name]) if {
	some name, class in _entries("cell_classes")
	not is_boolean(object.get(class, "may_sleep", null))
}

problems contains sprintf("cell_classes.%s.busy_hours.%s: %v is not HH:MM", [name, end, value]) if {
	some name, class in _entries("cell_classes")
	busy := object.get(class, "busy_hours", null)
	busy != null
	some end in ["start", "end"]
	value := _field(busy, end)
	not regex.match(_hhmm, _text(value))
}

_field(x, key) := object.get(x, key, null) if is_object(x) else := x

_text(x) := x if is_string(x) else := ""

problems contains sprintf("%s.%s: %v must be a number from %v to %v", [key, field, value, low, high]) if {
	some [key, field, low, high] in _ranges
	value := object.get(_entries(key), field, null)
	value != null
	not _between(value, low, high)
}

_ranges := [
	["energy", "max_neighbour_load", 0, 100],
	["confidence", "max_band", 0, 1],
	["blast_radius", "max_fraction", 0, 1],
	["blast_radius", "min_per_rop", 0, 1000000],
	["pace", "max_changes_per_hour", 0, 1000000],
	["pace", "cooldown_minutes", 0, 1000000],
]

_between(x, low, high) if {
	is_number(x)
	low <= x
	x <= high
}

problems contains sprintf("a1_policy_types.%s: a policy type's schema must be a JSON object", [name]) if {
	some name, schema in _entries("a1_policy_types")
	not is_object(schema)
}

problems contains sprintf("api_roles.%s: must be a list of permissions", [role]) if {
	some role, permissions in _entries("api_roles")
	not _strings(permissions)
}
