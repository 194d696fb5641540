"""Rendering the report: plots, HTML and Markdown, and the headless-browser check (gathering
its data from a workspace is the verb :mod:`gerec.steps.report`)."""
