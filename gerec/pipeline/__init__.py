"""Stages that skip themselves: a re-run continues from where its inputs last changed
(the stages of `gerec run` are in :mod:`gerec.steps.run`)."""

from gerec.pipeline.runner import Pipeline, Stage, fingerprint

__all__ = ["Pipeline", "Stage", "fingerprint"]
