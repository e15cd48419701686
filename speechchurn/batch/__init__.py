"""batch stage of speechchurn."""
