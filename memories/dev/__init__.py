"""``memories dev``: the whole system on one machine — control plane, operator, a sidecar, the examples."""
