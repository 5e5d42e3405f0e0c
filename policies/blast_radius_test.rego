# Blast radius.
package rapp.scaling_test

import rego.v1

import data.rapp.scaling

_in_batch(rank, size, known) := object.union(_input({}), {"batch": {"rank": rank, "size": size, "targets_known": known}})

test_the_first_decisions_of_a_rop_pass if {
	v := _verdict(_in_batch(1, 5, 10))
	v.allow == true
}

test_decisions_past_the_share_wait if {
	v := _verdict(_in_batch(2, 5, 10))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: blast radius: decision 3 of 5 in this ROP, at most 2 (25% of 10 NFs)"]
}

test_a_small_network_still_changes_min_per_rop if {
	first := _verdict(_in_batch(0, 2, 2))
	first.allow == true
	second := _verdict(_in_batch(1, 2, 2))
	second.reasons == ["free5gc-upf-site-03: blast radius: decision 2 of 2 in this ROP, at most 1 (25% of 2 NFs)"]
}

test_without_a_batch_nothing_is_checked if {
	v := _verdict(_input({}))
	v.allow == true
}

test_a_malformed_batch_denies if {
	v := _verdict(object.union(_input({}), {"batch": {"rank": 0}}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: input.batch {\"rank\": 0} is malformed (rank, size and targets_known numbers)"]
}
