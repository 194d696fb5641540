"""Stages that skip themselves, and the end-to-end run built from them."""

from gerec.pipeline.runner import Pipeline, Stage

__all__ = ["Pipeline", "Stage"]
