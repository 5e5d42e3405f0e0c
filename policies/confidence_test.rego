# Minimum forecast confidence.
package rapp.scaling_test

import rego.v1

import data.rapp.scaling

_with_median(median) := _input({"evidence": object.union(_base.evidence, {"median_max": median})})

test_a_narrow_band_scales_out if {
	v := _verdict(_with_median(70.0))
	v.allow == true
}

test_a_wide_band_does_not_scale_out if {
	v := _verdict(_with_median(40.0))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: forecast too uncertain: P90 91.5 over a median of 40 is a band of 56%, more than 50%"]
}

test_the_band_does_not_stop_a_scale_in if {
	v := _verdict(_input({
		"action": "scale_in", "capacity_from": "10G", "capacity_to": "5G",
		"evidence": object.union(_base.evidence, {"median_max": 10.0}),
	}))
	v.allow == true
}

test_the_limit_comes_from_data if {
	v := _judge(_with_median(40.0), {"confidence": {"max_band": 0.6}})
	v.allow == true
}
