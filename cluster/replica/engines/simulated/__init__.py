"""The calibrated stand-in engine (`engine.kind: simulated`); see docs/scale.md."""
