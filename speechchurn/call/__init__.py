"""call stage of speechchurn."""
