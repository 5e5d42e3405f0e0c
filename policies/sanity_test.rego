# The live data's shape (sanity.rego). The first test reads the live data.json: it is the one
# that refuses a reload whose data has a problem, and prints each problem.
package rapp.sanity_test

import rego.v1

import data.rapp.sanity

test_the_live_data_has_no_problems if {
	every problem in sanity.problems {
		print(problem)
	}
	count(sanity.problems) == 0
}

test_a_class_bound_that_is_no_quantity_is_a_problem if {
	"nf_classes.upf.max: 20 GB is not a Kubernetes quantity" in sanity.problems with data.rapp.nf_classes as {"upf": {"min": "1G", "max": "20 GB"}}
}

test_a_class_whose_min_is_above_its_max_is_a_problem if {
	"nf_classes.upf: min 8G is above max 4G" in sanity.problems with data.rapp.nf_classes as {"upf": {"min": "8G", "max": "4G"}}
}

test_step_factors_and_heal_limits_must_be_numbers_in_range if {
	ps := sanity.problems with data.rapp.nf_classes as {"upf": {"max_step_factor": 1}, "du": {"max_heal_cells": "2"}}
	"nf_classes.upf.max_step_factor: 1 must be a number above 1" in ps
	"nf_classes.du.max_heal_cells: 2 must be a number of at least 1" in ps
}

test_a_section_that_is_no_object_is_a_problem if {
	"protected_cells: must be a JSON object" in sanity.problems with data.rapp.protected_cells as ["c1"]
}

test_a_protection_reason_must_be_text if {
	"protected_targets.upf-1: the reason must be text, not true" in sanity.problems with data.rapp.protected_targets as {"upf-1": true}
}

test_a_malformed_calendar_is_a_problem if {
	entry := {"start": "tomorrow", "end": "2026-11-25T00:00:00Z", "targets": ["*"]}
	ps := sanity.problems with data.rapp.calendar as [entry]
	sprintf("calendar: %v is malformed (start and end RFC 3339, targets and actions lists)", [entry]) in ps
	"calendar: must be a list, not {}" in sanity.problems with data.rapp.calendar as {}
}

test_slices_need_a_quantity_and_targets if {
	ps := sanity.problems with data.rapp.slices as {"gold": {"guaranteed": "2 Gbps", "targets": "upf-1"}}
	"slices.gold.guaranteed: 2 Gbps is not a Kubernetes quantity" in ps
	"slices.gold.targets: must be a list of NF names" in ps
}

test_cell_classes_need_a_sleep_flag_and_hh_mm_busy_hours if {
	ps := sanity.problems with data.rapp.cell_classes as {"small": {"may_sleep": "yes", "busy_hours": {"start": "7:00", "end": "24:00"}}}
	"cell_classes.small.may_sleep: must be true or false" in ps
	"cell_classes.small.busy_hours.start: 7:00 is not HH:MM" in ps
	"cell_classes.small.busy_hours.end: 24:00 is not HH:MM" in ps
}

test_limits_must_be_numbers_in_their_range if {
	"confidence.max_band: 5 must be a number from 0 to 1" in sanity.problems with data.rapp.confidence as {"max_band": 5}
	"energy.max_neighbour_load: 60% must be a number from 0 to 100" in sanity.problems with data.rapp.energy as {"max_neighbour_load": "60%"}
	"pace.cooldown_minutes: -1 must be a number from 0 to 1000000" in sanity.problems with data.rapp.pace as {"cooldown_minutes": -1}
}

test_policy_type_schemas_and_roles_are_checked if {
	"a1_policy_types.T: a policy type's schema must be a JSON object" in sanity.problems with data.rapp.a1_policy_types as {"T": "schema"}
	"api_roles.viewer: must be a list of permissions" in sanity.problems with data.rapp.api_roles as {"viewer": "read"}
}
