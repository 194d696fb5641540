"""Data: readers for common formats, cleaning and leave-one-out splits, synthetic data."""

from gerec.data.formats import FORMATS, ColumnMap, read_dataset
from gerec.data.prepare import ImportOptions, prepare
from gerec.data.sequences import Sequences

__all__ = ["FORMATS", "ColumnMap", "ImportOptions", "Sequences", "prepare", "read_dataset"]
