# Minimum forecast confidence: scale out on the P90 only when the band is narrow enough. The
# band is how far the quantile scaled on lies above the median (evidence.median_max), as a
# share of the quantile: a P90 of 90 over a P50 of 40 is a forecast that does not know.
# data.rapp.confidence.max_band (0..1) sets the limit; without it, nothing is checked.
package rapp.checks.confidence

import rego.v1

import data.rapp.scaling.action
import data.rapp.scaling.evidence
import data.rapp.scaling.target

band := (evidence.forecast_max - evidence.median_max) / evidence.forecast_max if {
	is_number(evidence.forecast_max)
	is_number(evidence.median_max)
	evidence.forecast_max > 0
}

deny contains msg if {
	action == "scale_out"
	limit := data.rapp.confidence.max_band
	band > limit
	msg := sprintf("%s: forecast too uncertain: P%v %v over a median of %v is a band of %v%%, more than %v%%", [
		target, round(object.get(evidence, "quantile", 0.9) * 100), evidence.forecast_max,
		evidence.median_max, round(band * 100), round(limit * 100),
	])
}
