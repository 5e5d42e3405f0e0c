# Protected cells.
package rapp.scaling_test

import rego.v1

import data.rapp.scaling

_protected := "SubNetwork=site-02,ManagedElement=gnb-0008,GNBDUFunction=1,NRCellDU=3"

test_a_decision_naming_a_protected_cell_is_denied if {
	v := _verdict(_input({"cells": ["c1", _protected]}))
	v.allow == false
	v.reasons == [sprintf("free5gc-upf-site-03: cell %s is protected: drive test in progress", [_protected])]
}

test_a_protected_cell_is_not_healed_either if {
	v := _verdict(_heal_input({
		"target": "du-gnb-0008",
		"cells": [_protected],
		"evidence": object.union(_heal.evidence, {"incidents": [{"cell": _protected, "kind": "sleeping_cell"}]}),
	}))
	v.reasons == [sprintf("du-gnb-0008: cell %s is protected: drive test in progress", [_protected])]
}
