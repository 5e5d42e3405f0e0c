# The API authorization policy.
package rapp.api_test

import rego.v1

import data.rapp.api

# Fixed roles, not the live data.json: an operator adding a role must not fail these tests.
_roles := {"viewer": ["read", "evaluate"], "operator": ["read", "evaluate", "replace_policies"]}

test_roles_come_from_data if {
	api.allow with input as {"method": "PUT", "path": "/api/v1/policies", "role": "auditor"} with data.rapp.api_roles as {"auditor": ["replace_policies"]}
	not api.allow with input as {"method": "GET", "path": "/api/v1/decisions", "role": "viewer"} with data.rapp.api_roles as {"viewer": []}
}

test_a_viewer_reads_and_dry_runs_but_does_not_replace_policies if {
	api.allow with input as {"method": "GET", "path": "/api/v1/decisions", "role": "viewer"} with data.rapp.api_roles as _roles
	api.allow with input as {"method": "POST", "path": "/api/v1/policies/evaluate", "role": "viewer"} with data.rapp.api_roles as _roles
	not api.allow with input as {"method": "PUT", "path": "/api/v1/policies", "role": "viewer"} with data.rapp.api_roles as _roles
}

test_an_operator_replaces_policies if {
	api.allow with input as {"method": "PUT", "path": "/api/v1/policies", "role": "operator"} with data.rapp.api_roles as _roles
}

test_an_unknown_role_or_method_gets_nothing if {
	not api.allow with input as {"method": "GET", "path": "/api/v1/decisions", "role": "intruder"} with data.rapp.api_roles as _roles
	not api.allow with input as {"method": "DELETE", "path": "/api/v1/policies", "role": "operator"} with data.rapp.api_roles as _roles
}
