"""Evaluation: pessimistic full-catalogue ranking metrics under leave-one-out."""

from gerec.evaluation.metrics import KS, METRICS, metric_names, metrics_from_ranks, pessimistic_ranks
from gerec.evaluation.protocol import EvalResult, Scorer, evaluate

__all__ = ["KS", "METRICS", "EvalResult", "Scorer", "evaluate", "metric_names", "metrics_from_ranks",
           "pessimistic_ranks"]
