# Who may do what on the rApp's own API. Input: {"method", "path", "role"}, the role being the
# one settings give the caller's API key (api.keys). Reading is for every known role; a dry run
# of a decision too; replacing the policy set is for operators only. Roles come from data so
# an operator can add one (e.g. an auditor that may read the decision log only).
package rapp.api

import rego.v1

default allow := false

roles := data.rapp.api_roles if is_object(data.rapp.api_roles) else := {}

allow if {
	input.method in {"GET", "HEAD"}
	"read" in roles[input.role]
}

allow if {
	input.method == "POST"
	input.path == "/api/v1/policies/evaluate"
	"evaluate" in roles[input.role]
}

allow if {
	input.method == "PUT"
	input.path == "/api/v1/policies"
	"replace_policies" in roles[input.role]
}
