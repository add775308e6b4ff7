"""CLAP: curvature sampling and learnable prototypes over a UniPAD-style rendering objective (`task`)."""
