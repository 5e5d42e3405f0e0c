# Protected cells (data.rapp.protected_cells: cell DN -> reason): no decision may name one, so a
# cell under test, a VIP venue's cell or one a field team is working on is left alone.
package rapp.scaling

import rego.v1

protected_cells := data.rapp.protected_cells if is_object(data.rapp.protected_cells) else := {}

deny contains msg if {
	some cell in object.get(decision, "cells", [])
	object.get(protected_cells, cell, null) != null
	msg := sprintf("%s: cell %s is protected: %s", [target, cell, protected_cells[cell]])
}
