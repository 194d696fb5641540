"""The Feast feature store: definitions, ingestion of gerec's tables, materialization, reads.

Every access goes through Feast's API, so moving to another offline or online engine is a
change of ``feature_store.yaml``, not of gerec's code.
"""
