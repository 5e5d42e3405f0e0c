# Pace.
package rapp.scaling_test

import rego.v1

import data.rapp.scaling

_lately(n, last) := object.union(_input({}), {"history": {"changes_last_hour": n, "last_change": last}})

test_a_quiet_target_changes if {
	v := _verdict(_lately(0, null))
	v.allow == true
}

test_too_many_changes_in_the_last_hour_wait if {
	v := _verdict(_lately(2, "2026-11-24T09:30:00Z"))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: 2 changes in the last hour already, at most 2"]
}

test_a_change_inside_the_cool_down_waits if {
	v := _verdict(_lately(1, "2026-11-24T10:00:00+00:00"))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: last changed 15 minutes ago, cool-down is 30 minutes"]
}

test_after_the_cool_down_it_may_change_again if {
	v := _verdict(_lately(1, "2026-11-24T09:45:00Z"))
	v.allow == true
}

test_a_malformed_history_denies if {
	v := _verdict(_lately("two", null))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: input.history {\"changes_last_hour\": \"two\", \"last_change\": null} is malformed (changes_last_hour a number, last_change a time or null)"]
}

test_the_pace_comes_from_data if {
	v := _judge(_lately(2, null), {"pace": {"max_changes_per_hour": 3}})
	v.allow == true
}
