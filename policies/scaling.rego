# Gate for the planner's decisions (scale_out, scale_in) and the healer's (heal): every one is
# checked here before anything touches the network. Limits live in data.json (data.rapp.*), never in these rules, so an
# operator changes a limit without touching Rego. Input: {"decision": Decision.to_dict(), "now": RFC 3339}.
package rapp.scaling

import rego.v1

decision := object.get(input, "decision", {})

action := object.get(decision, "action", "<none>")

scaling_actions := {"scale_out", "scale_in"}

target := object.get(decision, "target", "<no target>")

# A class applies when the target is named after it ("free5gc-upf" covers "free5gc-upf-site-03");
# the longest matching prefix wins so a more specific class can override a general one.
matching_classes contains name if {
	some name, _ in data.rapp.nf_classes
	_names_class(target, name)
}

_names_class(t, name) if t == name

_names_class(t, name) if startswith(t, concat("", [name, "-"]))

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

to_text := object.get(decision, "capacity_to", "<none>")

from := quantity(from_text)

to := quantity(to_text)

min_capacity := quantity(limits.min)

max_capacity := quantity(limits.max)

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
	some field in ["capacity_from", "capacity_to"]
	value := object.get(decision, field, "<none>")
	not quantity(value)
	msg := sprintf("%s: %s %v is not a Kubernetes quantity", [target, field, value])
}

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
	not limits.max
	msg := sprintf("%s: class %s has no capacity bounds, so it cannot be scaled", [target, class_name])
}

deny contains msg if {
	not action in (scaling_actions | {"heal"})
	msg := sprintf("%s: unknown action %v", [target, action])
}

deny contains msg if {
	some key in object.get(data.rapp.require_evidence, action, [])
	object.get(object.get(decision, "evidence", {}), key, null) == null
	msg := sprintf("%s: required evidence %s is missing", [target, key])
}

# Healing resets cells: only for the incident kinds that need it, and a few cells of an NF at a
# time, so one bad detector run cannot take a whole gNB's cells down together.
heal_cells := count(object.get(decision, "cells", []))

deny contains msg if {
	action == "heal"
	class_name
	not limits.max_heal_cells
	msg := sprintf("%s: class %s sets no max_heal_cells, so it cannot be healed", [target, class_name])
}

deny contains msg if {
	action == "heal"
	heal_cells > limits.max_heal_cells
	msg := sprintf("%s: healing %d cells at once exceeds max_heal_cells %d for %s", [
		target, heal_cells, limits.max_heal_cells, class_name,
	])
}

deny contains msg if {
	action == "heal"
	some kind in object.get(object.get(decision, "evidence", {}), "kinds", [])
	not kind in data.rapp.heal_kinds
	msg := sprintf("%s: %v incidents are not healed (healed kinds: %s)", [
		target, kind, concat(", ", sort(data.rapp.heal_kinds)),
	])
}

allow_reason := sprintf("%s: %s -> %s within [%s, %s] for %s", [
	target, from_text, to_text, limits.min, limits.max, class_name,
]) if {
	action in scaling_actions
} else := sprintf("%s: heal %d cells (%s), at most %d for %s", [
	target, heal_cells, concat(", ", decision.evidence.kinds), limits.max_heal_cells, class_name,
])

# Sorted so the same decision always gets the same verdict text, whatever the evaluation order.
reasons := sort(deny) if count(deny) > 0 else := [allow_reason]

verdict := {"allow": count(deny) == 0, "reasons": reasons}
