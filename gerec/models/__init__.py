"""Recommenders that score the full catalogue from a user's history."""

from gerec.models.popularity import Popularity

__all__ = ["Popularity"]
