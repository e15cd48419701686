"""Reviewer marks: hit verdicts, customer reviews, tier overrides, lexicon feedback, QA appeals (no web)."""
