"""Reviewer decisions stored next to the results: QA appeals (复核 / 申诉)."""
