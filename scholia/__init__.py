"""scholia: printable annotated editions of primary texts."""

__version__ = "0.1.0"
