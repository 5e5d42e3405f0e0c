# Slice SLA protection: never scale an NF in below what the SLAs of the slices it serves
# guarantee together. data.rapp.slices: name -> {snssai, guaranteed (a Kubernetes quantity, the
# capacity the SLA promises), targets (the NFs serving the slice)}. A scale-out is never held
# back here: it moves towards the SLA, not away from it.
package rapp.checks.slices

import rego.v1

import data.rapp.scaling.action
import data.rapp.scaling.target
import data.rapp.scaling.to
import data.rapp.scaling.to_text

slices := data.rapp.slices if is_object(data.rapp.slices) else := {}

serving contains name if {
	some name, slice in slices
	target in object.get(slice, "targets", [])
}

# A malformed guarantee is an engine error, so a denial; sanity.rego refuses it at reload.
guaranteed := sum([units.parse(slices[name].guaranteed) | some name in serving])

deny contains msg if {
	action == "scale_in"
	count(serving) > 0
	to < guaranteed
	msg := sprintf("%s: %s is below what the SLAs of the slices it serves guarantee together: %s", [
		target, to_text,
		concat(" + ", [sprintf("%s %s", [name, slices[name].guaranteed]) | some name in sort(serving)]),
	])
}
