"""ALSO: surface reconstruction from query points along the sensor rays."""
