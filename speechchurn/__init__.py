"""speechchurn: call-center speech analytics for customer churn."""

import logging

__version__ = "0.1.0"

logging.getLogger("speechchurn").addHandler(logging.NullHandler())
