"""ai-ops: a self-tuning autonomous ops controller."""

__version__ = "0.1.0"
