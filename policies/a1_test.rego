# A1 policy sanity.
package rapp.scaling_test

import rego.v1

_a1(policy) := object.union(_input({}), {"a1": {
	"policy_type_id": "RAPP_CAPACITY_1.0.0",
	"policy_id": "rapp-free5gc-upf-site-03",
	"policy": policy,
}})

_good_policy := {"scope": {"nfId": "free5gc-upf-site-03"}, "statement": {"capacity": "10G"}}

test_a_valid_a1_policy_passes if {
	v := _verdict(_a1(_good_policy))
	v.allow == true
}

test_an_a1_policy_against_its_schema_is_denied if {
	v := _verdict(_a1({"scope": {"nfId": ""}, "statement": {"capacity": "10 G"}}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: A1 policy rapp-free5gc-upf-site-03 does not validate against the schema of RAPP_CAPACITY_1.0.0"]
}

test_an_a1_policy_missing_its_statement_is_denied if {
	v := _verdict(_a1({"scope": {"nfId": "free5gc-upf-site-03"}}))
	v.allow == false
}

test_an_unknown_policy_type_is_denied if {
	v := _verdict(object.union(_a1(_good_policy), {"a1": {"policy_type_id": "ORAN_QoSTarget_2.0.0"}}))
	v.reasons == ["free5gc-upf-site-03: A1 policy type ORAN_QoSTarget_2.0.0 is not one this policy set knows (known: RAPP_CAPACITY_1.0.0)"]
}

test_an_a1_part_without_a_type_is_denied if {
	v := _verdict(object.union(_input({}), {"a1": {"policy": _good_policy}}))
	v.reasons == ["free5gc-upf-site-03: input.a1 names no policy_type_id"]
}

test_without_an_a1_part_the_check_is_skipped if {
	v := _verdict(_input({}))
	v.allow == true
}
