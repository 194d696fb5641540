"""Workspace verbs: each reads what it needs from a workspace, calls the cores, and writes
its artifacts back. One module per CLI verb; the CLI, `gerec run`, the examples and the
benchmarks call these and nothing below them.

- :mod:`~gerec.steps.data` — import a dataset, generate the synthetic default, statistics
- :mod:`~gerec.steps.base` — train a base recommender
- :mod:`~gerec.steps.guided` — score items and users with a language model; LoRA fine-tuning
- :mod:`~gerec.steps.features` — the Feast store: apply, reduce base models, materialize
- :mod:`~gerec.steps.refine` — train refined models (and the ablations) from the store
- :mod:`~gerec.steps.evaluate` — the paired comparison of every trained variant
- :mod:`~gerec.steps.index` — build a FAISS index; add cold-start items
- :mod:`~gerec.steps.recommend` — load a recommender; the HTTP app
- :mod:`~gerec.steps.report` — the HTML and Markdown report
- :mod:`~gerec.steps.run` — every step end to end, skipping what is up to date
"""
