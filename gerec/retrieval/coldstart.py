"""Cold-start items (DESIGN step 8): a refined vector for an item with text and no interactions.

Its guided part comes from the language model exactly as the catalogue's did (same scorer,
same calibration onto 1–9, same normalization); its latent part is predicted from the
guided part by a ridge map fit on the known items (guided part → trained latent part), so
the item can be retrieved at once, before any interaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gerec.artifacts import read_json
from gerec.errors import GerecError
from gerec.guided.calibration import Calibration
from gerec.guided.schema import parse_schema
from gerec.refine.normalize import Normalizer
from gerec.workspace import Workspace


def latent_map(model: Any, ridge: float = 1.0) -> Any:
    """sklearn Ridge from the frozen guided part to the trainable latent part over known items."""
    from sklearn.linear_model import Ridge

    m = model.items.n_frozen
    table = model.catalogue().detach()[1:].numpy()
    return Ridge(alpha=ridge).fit(table[:, :m], table[:, m:])


def embed_new_items(ws: Workspace, model_dir: Path, texts: list[str], scorer: Any = None) -> np.ndarray:
    """(n, d) refined vectors for new item ``texts`` under the refined model in ``model_dir``."""
    from gerec.training import load_checkpoint

    model = load_checkpoint(model_dir)
    refine = read_json(model_dir / "config.json").get("refine", {})
    if not refine.get("frozen_dim"):
        raise GerecError(f"cold-start items need a refined model with a guided part; {model_dir} has none")
    manifest = read_json(ws.guided_manifest_path)
    if scorer is None:
        if manifest["scorer"].get("backend") != "encoder":
            raise GerecError("cold-start scoring runs the offline encoder; pass a scorer for other back-ends")
        from gerec.guided.encoder import EncoderScorer

        scorer = EncoderScorer(manifest["scorer"]["model"], adapter=manifest["scorer"].get("adapter"))
    schema = parse_schema(manifest["schema"], str(ws.guided_manifest_path))
    raw = scorer.raw_scores(texts, schema, "item").double().numpy()
    calibration = manifest["calibration"]["items"]
    scores = Calibration.from_dict(calibration).apply(raw) if calibration else raw
    guided = Normalizer.from_dict(refine["normalization"]).apply(scores)
    latent = latent_map(model).predict(guided)
    return np.concatenate([guided, latent], axis=1).astype(np.float32)



def add_items(ws: Workspace, index_name: str, titles: list[str], texts: list[str], scorer: Any = None
              ) -> tuple[list[int], dict[str, Any]]:
    """Embed new items and append them to an index (no rebuild); returns their new ids and the manifest."""
    from gerec.retrieval.index import add_to_index, load_index
    from gerec.serving.recommender import index_dir

    if not texts or len(titles) != len(texts):
        raise GerecError("give one title and one text per new item")
    folder = index_dir(ws, index_name)
    current = load_index(folder)
    vectors = embed_new_items(ws, Path(current.manifest["source"]["model_dir"]), texts, scorer)
    start = int(current.ids.max()) + 1
    ids = list(range(start, start + len(texts)))
    return ids, add_to_index(folder, vectors, np.asarray(ids), titles)
