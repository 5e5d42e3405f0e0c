# Protected cells (data.rapp.protected_cells: cell DN -> reason): no decision may name one, so a
# cell under test, a VIP venue's cell or one a field team is working on is left alone.
package rapp.checks.cells

import rego.v1

import data.rapp.scaling.decision
import data.rapp.scaling.target

protected := data.rapp.protected_cells if is_object(data.rapp.protected_cells) else := {}

deny contains msg if {
	some cell in object.get(decision, "cells", [])
	object.get(protected, cell, null) != null
	msg := sprintf("%s: cell %s is protected: %s", [target, cell, protected[cell]])
}
