# The data the rule tests judge against: a fixed copy, not the live data.json. An operator who
# freezes a site today, protects a cell or raises a limit edits data.json only; the tests that
# pin how the rules behave must keep passing, or the reload carrying the edit would be refused.
# The live data itself is checked by sanity.rego.
package rapp.scaling_test

import rego.v1

import data.rapp.scaling

_fixture := {
	"nf_classes": {
		"free5gc-upf": {"min": "1G", "max": "20G", "max_step_factor": 2},
		"du": {"max_heal_cells": 2},
	},
	"protected_targets": {"free5gc-upf-site-07": "site-07 is under change freeze for the stadium event"},
	"require_evidence": {
		"scale_out": ["forecast_max"],
		"scale_in": ["forecast_max"],
		"heal": ["incidents", "kinds"],
		"sleep": ["neighbour_load"],
	},
	"heal_kinds": ["fronthaul_fault", "hardware_fault", "sleeping_cell"],
	"calendar": [
		{
			"kind": "freeze",
			"start": "2026-12-24T00:00:00Z",
			"end": "2026-12-27T00:00:00Z",
			"targets": ["*"],
			"reason": "year-end change freeze",
		},
		{
			"kind": "maintenance window",
			"start": "2026-11-30T01:00:00Z",
			"end": "2026-11-30T05:00:00Z",
			"targets": ["free5gc-upf-site-04"],
			"actions": ["scale_in", "scale_out"],
			"reason": "transport upgrade at site-04",
		},
	],
	"protected_cells": {"SubNetwork=site-02,ManagedElement=gnb-0008,GNBDUFunction=1,NRCellDU=3": "drive test in progress"},
	"confidence": {"max_band": 0.5},
	"blast_radius": {"max_fraction": 0.25, "min_per_rop": 1},
	"pace": {"max_changes_per_hour": 2, "cooldown_minutes": 30},
	"slices": {
		"embb-gold": {"snssai": "01-000001", "guaranteed": "3G", "targets": ["free5gc-upf-site-05"]},
		"urllc-factory": {"snssai": "02-000002", "guaranteed": "1G", "targets": ["free5gc-upf-site-05", "free5gc-upf-site-06"]},
	},
	"energy": {"max_neighbour_load": 60},
	"cell_classes": {
		"macro": {"may_sleep": false},
		"small": {"may_sleep": true, "busy_hours": {"start": "07:00", "end": "22:00"}},
	},
	"a1_policy_types": _a1_types,
}

# Every data key the shipped rules read, from the fixture unless the test changes it.
_judge(inp, changes) := v if {
	d := object.union(_fixture, changes)
	v := scaling.verdict with input as inp
		with data.rapp.nf_classes as d.nf_classes
		with data.rapp.protected_targets as d.protected_targets
		with data.rapp.require_evidence as d.require_evidence
		with data.rapp.heal_kinds as d.heal_kinds
		with data.rapp.calendar as d.calendar
		with data.rapp.protected_cells as d.protected_cells
		with data.rapp.confidence as d.confidence
		with data.rapp.blast_radius as d.blast_radius
		with data.rapp.pace as d.pace
		with data.rapp.slices as d.slices
		with data.rapp.energy as d.energy
		with data.rapp.cell_classes as d.cell_classes
		with data.rapp.a1_policy_types as d.a1_policy_types
}

_verdict(inp) := _judge(inp, {})

# A small schema of the same shape as the rApp's policy types, enough to pin the check.
_a1_types := {"RAPP_CAPACITY_1.0.0": {
	"$schema": "http://json-schema.org/draft-07/schema#",
	"type": "object",
	"properties": {
		"scope": {
			"type": "object",
			"properties": {"nfId": {"type": "string", "minLength": 1}},
			"required": ["nfId"],
		},
		"statement": {
			"type": "object",
			"properties": {"capacity": {"type": "string", "pattern": "^[0-9]+[MG]$"}},
			"required": ["capacity"],
		},
	},
	"required": ["scope", "statement"],
}}
