"""Code shared by the broker, the console and the CLI: models, storage, settings, client."""

__version__ = "0.1.0"
