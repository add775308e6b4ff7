"""SPOT: occupancy prediction in a BEV grid (semantic or geometric targets, class-weighted CE + Lovasz)."""
