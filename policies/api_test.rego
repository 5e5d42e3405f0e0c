# The API authorization policy.
package rapp.api_test

import rego.v1

import data.rapp.api

test_a_viewer_reads_and_dry_runs_but_does_not_replace_policies if {
	api.allow with input as {"method": "GET", "path": "/api/v1/decisions", "role": "viewer"}
	api.allow with input as {"method": "POST", "path": "/api/v1/policies/evaluate", "role": "viewer"}
	not api.allow with input as {"method": "PUT", "path": "/api/v1/policies", "role": "viewer"}
}

test_an_operator_replaces_policies if {
	api.allow with input as {"method": "PUT", "path": "/api/v1/policies", "role": "operator"}
}

test_an_unknown_role_or_method_gets_nothing if {
	not api.allow with input as {"method": "GET", "path": "/api/v1/decisions", "role": "intruder"}
	not api.allow with input as {"method": "DELETE", "path": "/api/v1/policies", "role": "operator"}
}
