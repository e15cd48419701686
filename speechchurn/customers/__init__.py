"""customers stage of speechchurn."""
