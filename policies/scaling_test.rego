# Unit tests for the scaling gate: one case per rule, each asserting both the verdict and the
# reason an operator will read. Run with `rapp policy test` (the embedded runner, like `opa test`).
package rapp.scaling_test

import rego.v1

import data.rapp.scaling

# A shallow merge: object.union is recursive, so an override of "evidence" must replace it whole.
_decision(overrides) := object.union(object.remove(_base, object.keys(overrides)), overrides)

_base := {
	"id": "d0123456789abcde",
	"action": "scale_out",
	"target": "free5gc-upf-site-03",
	"cells": ["ManagedElement=gnb-03,GNBDUFunction=1,NRCellDU=1"],
	"rop": "2026-11-24T10:15:00+00:00",
	"capacity_from": "5G",
	"capacity_to": "10G",
	"evidence": {"forecast_max": 91.5, "threshold_high": 80, "threshold_low": 30, "quantile": 0.9},
	"created_at": "2026-11-24T10:15:02+00:00",
}

_input(overrides) := {"decision": _decision(overrides), "now": "2026-11-24T10:15:03Z"}

test_allowed_scale_out if {
	v := _verdict(_input({}))
	v.allow == true
	v.reasons == ["free5gc-upf-site-03: 5G -> 10G within [1G, 20G] for free5gc-upf"]
}

test_allowed_scale_in if {
	v := _verdict(_input({"action": "scale_in", "capacity_from": "10G", "capacity_to": "5G"}))
	v.allow == true
	v.reasons == ["free5gc-upf-site-03: 10G -> 5G within [1G, 20G] for free5gc-upf"]
}

test_protected_target_denied if {
	v := _verdict(_input({"target": "free5gc-upf-site-07"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-07: protected: site-07 is under change freeze for the stadium event"]
}

test_protected_targets_come_from_data if {
	v := _judge(_input({}), {"protected_targets": {"free5gc-upf-site-03": "maintenance window"}})
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: protected: maintenance window"]
}

test_above_max_denied if {
	v := _verdict(_input({"capacity_from": "20G", "capacity_to": "40G"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: 40G exceeds the maximum 20G for free5gc-upf"]
}

test_below_min_denied if {
	v := _verdict(_input({"action": "scale_in", "capacity_from": "1G", "capacity_to": "500M"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: 500M is below the minimum 1G for free5gc-upf"]
}

test_limits_come_from_data if {
	v := _judge(_input({}), {"nf_classes": {"free5gc-upf": {"min": "1G", "max": "8G", "max_step_factor": 2}}})
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: 10G exceeds the maximum 8G for free5gc-upf"]
}

test_too_large_step_out_denied if {
	v := _verdict(_input({"capacity_from": "4G", "capacity_to": "16G"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: 4G -> 16G changes capacity by more than the maximum factor 2 for free5gc-upf"]
}

test_too_large_step_in_denied if {
	v := _verdict(_input({"action": "scale_in", "capacity_from": "16G", "capacity_to": "4G"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: 16G -> 4G changes capacity by more than the maximum factor 2 for free5gc-upf"]
}

test_exact_doubling_allowed if {
	v := _verdict(_input({"capacity_from": "10G", "capacity_to": "20G"}))
	v.allow == true
}

test_wrong_direction_scale_out_denied if {
	v := _verdict(_input({"capacity_from": "10G", "capacity_to": "5G"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: scale_out must increase capacity, but 10G -> 5G does not"]
}

test_wrong_direction_scale_in_denied if {
	v := _verdict(_input({"action": "scale_in"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: scale_in must decrease capacity, but 5G -> 10G does not"]
}

test_unknown_class_denied if {
	v := _verdict(_input({"target": "open5gs-smf-site-03"}))
	v.allow == false
	v.reasons == ["open5gs-smf-site-03: no NF class matches this target (known classes: du, free5gc-upf)"]
}

test_class_prefix_needs_a_boundary if {
	v := _verdict(_input({"target": "free5gc-upfx-site-03"}))
	v.allow == false
	v.reasons == ["free5gc-upfx-site-03: no NF class matches this target (known classes: du, free5gc-upf)"]
}

test_missing_evidence_denied if {
	v := _verdict(_input({"evidence": {"quantile": 0.9}}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: required evidence forecast_max is missing"]
}

test_malformed_quantity_denied if {
	v := _verdict(_input({"capacity_to": "lots"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: capacity_to lots is not a Kubernetes quantity"]
}

test_several_violations_all_reported_sorted if {
	v := _verdict(_input({"target": "free5gc-upf-site-07", "capacity_to": "40G", "evidence": {}}))
	v.allow == false
	v.reasons == [
		"free5gc-upf-site-07: 40G exceeds the maximum 20G for free5gc-upf",
		"free5gc-upf-site-07: 5G -> 40G changes capacity by more than the maximum factor 2 for free5gc-upf",
		"free5gc-upf-site-07: protected: site-07 is under change freeze for the stadium event",
		"free5gc-upf-site-07: required evidence forecast_max is missing",
	]
}

_heal := {
	"id": "d0fedcba987654321",
	"action": "heal",
	"target": "du-gnb-0003",
	"cells": ["SubNetwork=site-01,ManagedElement=gnb-0003,GNBDUFunction=1,NRCellDU=2"],
	"rop": "2026-11-24T10:15:00+00:00",
	"capacity_from": "",
	"capacity_to": "",
	"evidence": {
		"incidents": [{"cell": "SubNetwork=site-01,ManagedElement=gnb-0003,GNBDUFunction=1,NRCellDU=2", "kind": "sleeping_cell"}],
		"kinds": ["sleeping_cell"],
		"score_max": 4.2,
	},
	"created_at": "2026-11-24T10:15:02+00:00",
}

_heal_input(overrides) := {
	"decision": object.union(object.remove(_heal, object.keys(overrides)), overrides),
	"now": "2026-11-24T10:15:03Z",
}

test_heal_allowed_without_capacities if {
	v := _verdict(_heal_input({}))
	v.allow == true
	v.reasons == ["du-gnb-0003: heal 1 cells (sleeping_cell), at most 2 for du"]
}

test_heal_of_too_many_cells_denied if {
	cells := [sprintf("SubNetwork=site-01,ManagedElement=gnb-0003,GNBDUFunction=1,NRCellDU=%d", [i]) | some i in numbers.range(1, 3)]
	incidents := [{"cell": c, "kind": "sleeping_cell"} | some c in cells]
	v := _verdict(_heal_input({
		"cells": cells,
		"evidence": object.union(_heal.evidence, {"incidents": incidents}),
	}))
	v.allow == false
	v.reasons == ["du-gnb-0003: healing 3 cells at once exceeds max_heal_cells 2 for du"]
}

test_heal_of_a_kind_scaling_fixes_denied if {
	v := _verdict(_heal_input({"evidence": object.union(_heal.evidence, {"kinds": ["congestion_surge"]})}))
	v.allow == false
	v.reasons == ["du-gnb-0003: congestion_surge incidents are not healed (healed kinds: fronthaul_fault, hardware_fault, sleeping_cell)"]
}

test_heal_needs_its_evidence if {
	v := _verdict(_heal_input({"evidence": {"kinds": ["sleeping_cell"]}}))
	v.allow == false
	v.reasons == [
		"du-gnb-0003: SubNetwork=site-01,ManagedElement=gnb-0003,GNBDUFunction=1,NRCellDU=2 is to be healed but no incident names it",
		"du-gnb-0003: required evidence incidents is missing",
	]
}

test_heal_of_a_class_without_a_heal_limit_denied if {
	v := _verdict(_heal_input({"target": "free5gc-upf-site-03"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: class free5gc-upf sets no max_heal_cells number, so it cannot be healed"]
}

test_scale_of_a_class_without_bounds_denied if {
	v := _verdict(_input({"target": "du-gnb-0003"}))
	v.allow == false
	v.reasons == [
		"du-gnb-0003: class du sets no max capacity, so it cannot be scaled",
		"du-gnb-0003: class du sets no min capacity, so it cannot be scaled",
	]
}

test_unknown_action_denied if {
	v := _verdict(_input({"action": "reboot"}))
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: unknown action reboot"]
}

test_heal_of_no_cells_denied if {
	v := _verdict(_heal_input({"cells": [], "evidence": {"incidents": [], "kinds": []}}))
	v.allow == false
	v.reasons == ["du-gnb-0003: a heal must name the cells to heal"]
}

test_heal_that_changes_capacity_denied if {
	v := _verdict(_heal_input({"capacity_to": "10G"}))
	v.allow == false
	v.reasons == ["du-gnb-0003: a heal changes no capacity, but capacity_to is 10G"]
}

test_heal_evidence_of_the_wrong_shape_denied_with_a_reason if {
	v := _verdict(_heal_input({"evidence": object.union(_heal.evidence, {"kinds": "sleeping_cell"})}))
	v.allow == false
	v.reasons == ["du-gnb-0003: evidence kinds must be a list"]
}

test_heal_whose_incident_is_of_a_kind_scaling_fixes_denied if {
	incidents := [{"cell": _heal.cells[0], "kind": "congestion_surge"}]
	v := _verdict(_heal_input({"evidence": object.union(_heal.evidence, {"incidents": incidents})}))
	v.allow == false
	v.reasons == ["du-gnb-0003: congestion_surge incidents are not healed (healed kinds: fronthaul_fault, hardware_fault, sleeping_cell)"]
}

test_required_evidence_as_a_plain_list_applies_to_scaling_only if {
	scale := _judge(_input({"evidence": {}}), {"require_evidence": ["forecast_max"]})
	scale.reasons == ["free5gc-upf-site-03: required evidence forecast_max is missing"]
	heal := _judge(_heal_input({}), {"require_evidence": ["forecast_max"]})
	heal.allow == true
}

_clamping := {"free5gc-upf": {"min": "1G", "max": "20G", "max_step_factor": 4, "clamp_to_max": true}}

test_a_class_that_clamps_allows_to_its_maximum_with_an_obligation if {
	v := _judge(_input({"capacity_from": "10G", "capacity_to": "40G"}), {"nf_classes": _clamping})
	v.allow == true
	v.reasons == ["free5gc-upf-site-03: 10G -> 20G (clamped from 40G) within [1G, 20G] for free5gc-upf"]
	v.obligations == [{"set": {"capacity_to": "20G"}}]
}

test_clamping_is_judged_on_the_clamped_capacity if {
	v := _judge(_input({"capacity_from": "2G", "capacity_to": "40G"}), {"nf_classes": _clamping})
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: 2G -> 20G changes capacity by more than the maximum factor 4 for free5gc-upf"]
}

test_nothing_is_clamped_at_the_maximum_already_or_without_the_flag if {
	at_max := _judge(_input({"capacity_from": "20G", "capacity_to": "40G"}), {"nf_classes": _clamping})
	at_max.reasons == ["free5gc-upf-site-03: 40G exceeds the maximum 20G for free5gc-upf"]
	at_max.obligations == []
	off := _verdict(_input({"capacity_from": "10G", "capacity_to": "40G"}))
	off.allow == false
	off.obligations == []
}

test_heal_whose_incident_names_no_kind_denied if {
	incidents := [{"cell": _heal.cells[0]}]
	v := _verdict(_heal_input({"evidence": object.union(_heal.evidence, {"incidents": incidents})}))
	v.allow == false
	v.reasons == [sprintf("du-gnb-0003: an incident names no kind: %v", [incidents[0]])]
}

test_heal_limit_given_as_text_denied if {
	v := _judge(_heal_input({}), {"nf_classes": object.union(_fixture.nf_classes, {"du": {"max_heal_cells": "2"}})})
	v.allow == false
	v.reasons == ["du-gnb-0003: class du sets no max_heal_cells number, so it cannot be healed"]
}

test_every_check_package_is_consulted if {
	every name, _ in data.rapp.checks {
		name in scaling.check_names
	}
}

test_a_check_named_but_missing_denies_everything if {
	v := _verdict(_input({})) with data.rapp.scaling.check_names as ["calendar", "no_such_check"]
	v.allow == false
	v.reasons == ["free5gc-upf-site-03: the policy set has no deny rules for the checks no_such_check, so nothing is allowed"]
}
