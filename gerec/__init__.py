"""gerec: guided embedding refinement for sequential recommendation.

The top-level import stays light (no torch, no feast) so that the CLI starts fast;
import the submodules you need: ``gerec.data``, ``gerec.evaluation``, ``gerec.models``.
"""

from gerec.errors import DataError, GerecError
from gerec.workspace import Workspace

__version__ = "0.1.0"

__all__ = ["DataError", "GerecError", "Workspace", "__version__"]
