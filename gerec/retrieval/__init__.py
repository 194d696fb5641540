"""Retrieval: a persisted FAISS inner-product index over item embeddings, keyed by item id."""
