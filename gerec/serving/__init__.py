"""Serving: recommendations with per-attribute reasons, as a library, a CLI and an HTTP service."""
