# Gate for the planner's decisions (scale_out, scale_in), the healer's (heal) and energy-saving
# ones (sleep: cells switched off while not needed; see energy.rego): every one is
# checked here before anything touches the network. Limits live in data.json (data.rapp.*),
# never in these rules, so an operator changes a limit without touching Rego.
# Input: {"decision": Decision.to_dict(), "now": RFC 3339}.
package rapp.scaling

import rego.v1

decision := object.get(input, "decision", {})

action := object.get(decision, "action", "<none>")

scaling_actions := {"scale_out", "scale_in"}

# Actions on some of the target's cells, which change no capacity.
cell_actions := {"heal", "sleep"}

target := object.get(decision, "target", "<no target>")

# A class applies when the target is named after it ("free5gc-upf" covers "free5gc-upf-site-03");
# the longest matching prefix wins so a more specific class can override a general one.
matching_classes contains name if {
	some name, _ in data.rapp.nf_classes
	names_class(target, name)
}

names_class(t, name) if t == name

names_class(t, name) if startswith(t, concat("", [name, "-"]))

class_name := name if {
	some name in matching_classes
	every other in matching_classes {
		count(other) <= count(name)
	}
}

limits := data.rapp.nf_classes[class_name]

# units.parse raises on a malformed quantity and the engine is strict about builtin errors, so
# check the shape first and deny with a readable reason instead of failing with an engine error.
_quantity_pattern := `^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$`

quantity(q) := units.parse(q) if {
	is_string(q)
	regex.match(_quantity_pattern, q)
}

from_text := object.get(decision, "capacity_from", "<none>")

asked_text := object.get(decision, "capacity_to", "<none>")

# A class with clamp_to_max: a scale-out past the maximum is allowed to the maximum instead
# (an obligation the loop applies before enacting), and every check judges that capacity.
clamping if {
	action == "scale_out"
	limits.clamp_to_max == true
	asked > max_capacity
	from < max_capacity
}

to_text := limits.max if clamping else := asked_text

obligations := [{"set": {"capacity_to": limits.max}}] if clamping else := []

from := quantity(from_text)

asked := quantity(asked_text)

to := max_capacity if clamping else := asked

# The class bounds are data, and sanity.rego refuses a set whose bounds are not quantities:
# parsed without the guard, which costs a regex per bound and decision.
min_capacity := units.parse(limits.min)

max_capacity := units.parse(limits.max)

deny contains msg if {
	some reason in object.filter(data.rapp.protected_targets, [target])
	msg := sprintf("%s: protected: %s", [target, reason])
}

deny contains msg if {
	not class_name
	msg := sprintf("%s: no NF class matches this target (known classes: %s)", [
		target,
		concat(", ", sort(object.keys(data.rapp.nf_classes))),
	])
}

deny contains msg if {
	action in scaling_actions
	some field, value in {"capacity_from": from_text, "capacity_to": asked_text}
	not _parsed(field)
	msg := sprintf("%s: %s %v is not a Kubernetes quantity", [target, field, value])
}

# The rules above, not quantity() again: each parse is a regex match.
_parsed("capacity_from") if from

_parsed("capacity_to") if asked

deny contains msg if {
	to > max_capacity
	msg := sprintf("%s: %s exceeds the maximum %s for %s", [target, to_text, limits.max, class_name])
}

deny contains msg if {
	to < min_capacity
	msg := sprintf("%s: %s is below the minimum %s for %s", [target, to_text, limits.min, class_name])
}

# Compare by multiplication, not division: a capacity_from of 0 must not become an engine error.
deny contains msg if {
	factor := limits.max_step_factor
	_too_large_step(from, to, factor)
	msg := sprintf("%s: %s -> %s changes capacity by more than the maximum factor %v for %s", [
		target, from_text, to_text, factor, class_name,
	])
}

_too_large_step(a, b, factor) if b > a * factor

_too_large_step(a, b, factor) if b * factor < a

deny contains msg if {
	decision.action == "scale_out"
	to <= from
	msg := sprintf("%s: scale_out must increase capacity, but %s -> %s does not", [
		target, from_text, to_text,
	])
}

deny contains msg if {
	decision.action == "scale_in"
	to >= from
	msg := sprintf("%s: scale_in must decrease capacity, but %s -> %s does not", [
		target, from_text, to_text,
	])
}

deny contains msg if {
	action in scaling_actions
	class_name
	some bound in ["min", "max"]
	not limits[bound]
	msg := sprintf("%s: class %s sets no %s capacity, so it cannot be scaled", [
		target, class_name, bound,
	])
}

deny contains msg if {
	not action in (scaling_actions | cell_actions)
	msg := sprintf("%s: unknown action %v", [target, action])
}

evidence := object.get(decision, "evidence", {})

# Per action ({"scale_out": [...], "heal": [...]}); the older plain list applies to scaling.
required_evidence := object.get(data.rapp.require_evidence, action, []) if {
	is_object(data.rapp.require_evidence)
} else := data.rapp.require_evidence if {
	is_array(data.rapp.require_evidence)
	action in scaling_actions
} else := []

deny contains msg if {
	some key in required_evidence
	object.get(evidence, key, null) == null
	msg := sprintf("%s: required evidence %s is missing", [target, key])
}

# Healing resets cells: only for the incident kinds that need it, every cell with its incident,
# and a few cells of an NF at a time, so one bad detector run cannot take a gNB's cells down.
cell_count := count(object.get(decision, "cells", []))

heal_kinds := kinds if {
	kinds := object.get(evidence, "kinds", [])
	is_array(kinds)
} else := []

heal_incidents := incidents if {
	incidents := object.get(evidence, "incidents", [])
	is_array(incidents)
} else := []

deny contains msg if {
	action in cell_actions
	cell_count == 0
	msg := sprintf("%s: a %s must name the cells to %s", [target, action, action])
}

deny contains msg if {
	action in cell_actions
	some field in ["capacity_from", "capacity_to"]
	object.get(decision, field, "") != ""
	msg := sprintf("%s: a %s changes no capacity, but %s is %v", [
		target, action, field, object.get(decision, field, ""),
	])
}

deny contains msg if {
	action == "heal"
	some field in ["kinds", "incidents"]
	not is_array(object.get(evidence, field, []))
	msg := sprintf("%s: evidence %s must be a list", [target, field])
}

deny contains msg if {
	action == "heal"
	class_name
	not is_number(object.get(limits, "max_heal_cells", null))
	msg := sprintf("%s: class %s sets no max_heal_cells number, so it cannot be healed", [
		target, class_name,
	])
}

deny contains msg if {
	action == "heal"
	some i in heal_incidents
	not is_string(object.get(i, "kind", null))
	msg := sprintf("%s: an incident names no kind: %v", [target, i])
}

deny contains msg if {
	action == "heal"
	cell_count > limits.max_heal_cells
	msg := sprintf("%s: healing %d cells at once exceeds max_heal_cells %d for %s", [
		target, cell_count, limits.max_heal_cells, class_name,
	])
}

deny contains msg if {
	action == "heal"
	some kind in {k | some k in heal_kinds} | {i.kind | some i in heal_incidents}
	not kind in data.rapp.heal_kinds
	msg := sprintf("%s: %v incidents are not healed (healed kinds: %s)", [
		target, kind, concat(", ", sort(data.rapp.heal_kinds)),
	])
}

deny contains msg if {
	action == "heal"
	some cell in object.get(decision, "cells", [])
	not cell in {i.cell | some i in heal_incidents}
	msg := sprintf("%s: %s is to be healed but no incident names it", [target, cell])
}

allow_reason := sprintf("%s: %s -> %s (clamped from %s) within [%s, %s] for %s", [
	target, from_text, to_text, asked_text, limits.min, limits.max, class_name,
]) if {
	clamping
} else := sprintf("%s: %s -> %s within [%s, %s] for %s", [
	target, from_text, to_text, limits.min, limits.max, class_name,
]) if {
	action in scaling_actions
} else := sprintf("%s: sleep %d cells to save energy", [target, cell_count]) if {
	action == "sleep"
} else := sprintf("%s: heal %d cells (%s), at most %d for %s", [
	target, cell_count, concat(", ", heal_kinds), limits.max_heal_cells, class_name,
])

# Every other concern lives in its own package under rapp.checks, with a deny set of its own,
# named here: iterating data.rapp.checks instead would evaluate every rule of every check
# package for each decision (it doubled the time per decision). A package under rapp.checks
# missing from this list fails test_every_check_package_is_consulted; one listed but not in
# the set denies every decision (missing_checks), never lets its concern pass unchecked. One
# package per concern also keeps each deny set in one module (regorus can lose contributions
# to a partial set spread over several modules when a test uses `with input as`).
check_names := ["a1", "blast_radius", "calendar", "cells", "confidence", "energy", "pace", "slices"]

checks := {name: data.rapp.checks[name].deny | some name in check_names}

missing_checks := [name | some name in check_names; not checks[name]]

deny contains msg if {
	count(missing_checks) > 0
	msg := sprintf("%s: the policy set has no deny rules for the checks %s, so nothing is allowed", [
		target, concat(", ", missing_checks),
	])
}

denials := deny | {msg | some denied in checks; some msg in denied}

# Sorted so the same decision always gets the same verdict text, whatever the evaluation order.
reasons := sort(denials) if count(denials) > 0 else := [allow_reason]

verdict := {"allow": count(denials) == 0, "reasons": reasons, "obligations": obligations}
