"""dev stage of speechchurn."""
