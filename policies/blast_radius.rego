# Blast radius: at most a share of the network changed per ROP. The loop tells each decision
# where it stands among this ROP's (input.batch: rank 0 is the most urgent, healing first; size;
# targets_known, the NFs it knows); the first `limit` pass, the rest wait for a later ROP, when
# the forecast still asks for them. data.rapp.blast_radius: max_fraction of the known NFs,
# min_per_rop so a small network can still change one NF. Without a batch, nothing is checked.
package rapp.checks.blast_radius

import rego.v1

import data.rapp.scaling.target

batch := input.batch if is_object(input.batch)

limit := max([
	object.get(data.rapp.blast_radius, "min_per_rop", 1),
	floor(data.rapp.blast_radius.max_fraction * batch.targets_known),
])

deny contains msg if {
	batch
	not _well_formed
	msg := sprintf("%s: input.batch %v is malformed (rank, size and targets_known numbers)", [target, batch])
}

_well_formed if {
	is_number(batch.rank)
	is_number(batch.size)
	is_number(batch.targets_known)
}

deny contains msg if {
	is_number(batch.rank)
	batch.rank >= limit
	msg := sprintf("%s: blast radius: decision %d of %d in this ROP, at most %d (%v%% of %d NFs)", [
		target, batch.rank + 1, batch.size, limit,
		round(data.rapp.blast_radius.max_fraction * 100), batch.targets_known,
	])
}
