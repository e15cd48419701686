"""Reviewer marks: hit verdicts, customer reviews, tier overrides and lexicon feedback (no web code)."""
