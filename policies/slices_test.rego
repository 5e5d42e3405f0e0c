# Slice SLA protection.
package rapp.scaling_test

import rego.v1

# site-05 serves embb-gold (3G) and urllc-factory (1G); site-06 urllc-factory only.
_scale_in(target, from, to) := _input({"action": "scale_in", "target": target, "capacity_from": from, "capacity_to": to})

test_a_scale_in_that_keeps_the_guarantees_is_allowed if {
	v := _verdict(_scale_in("free5gc-upf-site-05", "10G", "5G"))
	v.allow == true
}

test_a_scale_in_to_exactly_the_guarantees_is_allowed if {
	v := _verdict(_scale_in("free5gc-upf-site-05", "8G", "4G"))
	v.allow == true
}

test_a_scale_in_below_the_sum_of_the_guarantees_is_denied if {
	v := _verdict(_scale_in("free5gc-upf-site-05", "5G", "2500M"))
	v.allow == false
	v.reasons == ["free5gc-upf-site-05: 2500M is below what the SLAs of the slices it serves guarantee together: embb-gold 3G + urllc-factory 1G"]
}

test_only_the_slices_a_target_serves_count if {
	v := _verdict(_scale_in("free5gc-upf-site-06", "2G", "1G"))
	v.allow == true
	denied := _judge(_scale_in("free5gc-upf-site-06", "4G", "2G"), {"slices": {"urllc-factory": {"guaranteed": "2500M"}}})
	denied.reasons == ["free5gc-upf-site-06: 2G is below what the SLAs of the slices it serves guarantee together: urllc-factory 2500M"]
}

test_a_scale_out_is_never_held_back_by_an_sla if {
	v := _verdict(_input({"target": "free5gc-upf-site-05", "capacity_from": "1G", "capacity_to": "2G"}))
	v.allow == true
}
