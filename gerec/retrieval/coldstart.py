"""Cold-start items (DESIGN step 8): a refined vector for an item with text and no interactions.

Its guided part comes from the language model exactly as the catalogue's did (same scorer,
same calibration onto 1–9, same normalization); its latent part is predicted from the
guided part by a ridge map fit on the known items (guided part → trained latent part), so
the item can be retrieved at once, before any interaction.
"""

from __future__ import annotations

import numpy as np

from gerec.models.sequential import SequentialModel
from gerec.refine.latent_map import latent_map
from gerec.refine.normalize import Normalizer
from gerec.retrieval.index import RetrievalError


def cold_item_vectors(model: SequentialModel, scores: np.ndarray) -> np.ndarray:
    """(n, d) refined vectors for new items from their calibrated attribute ``scores`` (n, m) on 1–9."""
    if not model.attributes or model.refinement is None:
        raise RetrievalError("cold-start items need a refined model with a guided part")
    guided = Normalizer.from_dict(model.refinement["normalization"]).apply(scores)
    guided = guided * model.items.scales().detach().cpu().numpy()  # learned per-attribute weights (or ones)
    latent = latent_map(model).predict(guided)
    return np.concatenate([guided, latent], axis=1).astype(np.float32)
