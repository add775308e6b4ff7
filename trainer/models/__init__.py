"""Models: sparse backbones (and, from other modules, heads and full networks)."""
