"""`spot-train study`: every pre-training method through one fine-tuning protocol, with paired statistics.

`config` reads the study YAML, `plan` turns it into the list of runs, `runner` trains and evaluates them (each
cached in its own folder), `stats` compares methods seed by seed, `report` writes docs/results.{md,json} and
the figures.
"""
