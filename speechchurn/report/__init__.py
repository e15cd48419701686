"""report stage of speechchurn."""
