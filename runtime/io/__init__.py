"""Scan, label and box readers and writers; `read_sample` / `iter_samples` pick the reader by file suffix."""

from .registry import READERS, WRITERS, ReadOptions, format_of, iter_samples, read_sample, read_samples, write_scan

__all__ = [
    "READERS",
    "WRITERS",
    "ReadOptions",
    "format_of",
    "iter_samples",
    "read_sample",
    "read_samples",
    "write_scan",
]
