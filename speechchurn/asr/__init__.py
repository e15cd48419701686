"""asr stage of speechchurn."""
