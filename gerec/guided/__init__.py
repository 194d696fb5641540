"""Guided embeddings: attribute schemas and the language-model scorers that fill them."""
