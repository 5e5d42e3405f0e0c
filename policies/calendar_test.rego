# The change calendar: freezes, maintenance windows, and a missing clock.
package rapp.scaling_test

import rego.v1

import data.rapp.scaling

_at(when, overrides) := object.union(_input(overrides), {"now": when})

test_a_freeze_blocks_every_change_while_it_lasts if {
	v := _verdict(_at("2026-12-25T12:00:00Z", {}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: freeze until 2026-12-27T00:00:00Z: year-end change freeze"]
	heal := _verdict(object.union(_heal_input({}), {"now": "2026-12-25T12:00:00Z"}))
	heal.reasons == ["du-gnb-0003: freeze until 2026-12-27T00:00:00Z: year-end change freeze"]
}

test_a_freeze_ends_at_its_end if {
	before := _verdict(_at("2026-12-23T23:59:59Z", {}))
	before.allow == true
	after := _verdict(_at("2026-12-27T00:00:00Z", {}))
	after.allow == true
}

test_a_maintenance_window_blocks_only_its_targets_and_actions if {
	window := "2026-11-30T02:00:00+00:00"
	v := _verdict(_at(window, {"target": "free5gc-upf-site-04"}))
	v.reasons == ["free5gc-upf-site-04: maintenance window until 2026-11-30T05:00:00Z: transport upgrade at site-04"]
	other := _verdict(_at(window, {}))
	other.allow == true
	heal := _verdict(object.union(_heal_input({}), {"now": window}))
	heal.allow == true
}

test_a_calendar_without_a_clock_denies if {
	v := _verdict(object.remove(_input({}), ["now"]))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: the input has no valid now, so the change calendar cannot be checked"]
}

test_the_calendar_comes_from_data if {
	v := _judge(_input({}), {"calendar": [{"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z", "targets": ["free5gc-upf"], "reason": "core upgrade"}]})
	v.reasons == ["free5gc-upf-site-03: freeze until 2026-11-25T00:00:00Z: core upgrade"]
}
