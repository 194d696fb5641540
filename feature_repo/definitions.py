"""Feast definitions of the gerec workspace named by $GEREC_WORKSPACE.

The objects come from ``gerec.features.definitions`` — the same ones ``gerec features apply``
registers — with one float field per attribute of the workspace's schema.
"""

import os
from pathlib import Path

from gerec.features.definitions import workspace_objects

if "GEREC_WORKSPACE" not in os.environ:
    raise RuntimeError("set GEREC_WORKSPACE to the absolute path of a gerec workspace (after `gerec features apply`)")

(item, user, base_model, item_attributes_fv, item_base_reduced_fv, user_attributes_fv,
 user_recent_items_fv, item_attribute_scores_fv, user_attribute_scores_fv) = workspace_objects(Path(os.environ["GEREC_WORKSPACE"]) / "feature_store")
