"""text stage of speechchurn."""
