"""The workspace report: what was trained, how it did, and why it recommends what it does."""
