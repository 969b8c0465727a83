"""Cost layer: parameters, FLOPs, memory and the serving budget from the config alone (no torch)."""
