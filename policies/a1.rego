# A1 policy sanity: the object the rApp will send must validate against the schema of its
# policy type (data.rapp.a1_policy_types: type id -> policySchema, the types the operator has
# approved), so a malformed object is refused here, not by the Near-RT RIC after the decision
# was journalled as allowed. The loop gives every decision input.a1 ({policy_type_id,
# policy_id, policy}); a hand-written dry run without it skips this check.
package rapp.checks.a1

import rego.v1

import data.rapp.scaling.target

a1 := input.a1 if is_object(input.a1)

types := data.rapp.a1_policy_types if is_object(data.rapp.a1_policy_types) else := {}

type_id := a1.policy_type_id if is_string(a1.policy_type_id)

deny contains msg if {
	a1
	not type_id
	msg := sprintf("%s: input.a1 names no policy_type_id", [target])
}

deny contains msg if {
	not types[type_id]
	msg := sprintf("%s: A1 policy type %s is not one this policy set knows (known: %s)", [
		target, type_id, concat(", ", sort(object.keys(types))),
	])
}

# Only the fact is compared, not the validator's error text: OPA and regorus word it apart.
deny contains msg if {
	[valid, _] := json.match_schema(object.get(a1, "policy", null), types[type_id])
	not valid
	msg := sprintf("%s: A1 policy %v does not validate against the schema of %s", [
		target, object.get(a1, "policy_id", "<no id>"), type_id,
	])
}
