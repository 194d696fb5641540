"""Data: readers for common formats, cleaning and leave-one-out splits, synthetic data."""

from gerec.data.formats import FORMATS, ColumnMap, read_dataset
from gerec.data.prepare import ImportOptions, import_dataset
from gerec.data.stats import workspace_stats

__all__ = ["FORMATS", "ColumnMap", "ImportOptions", "import_dataset", "read_dataset", "workspace_stats"]
