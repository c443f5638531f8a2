"""The SDK's version: one place, read by the package, the CLI and the ``User-Agent`` header."""

__version__ = "0.1.0"
