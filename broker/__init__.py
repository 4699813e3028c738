"""simplequeued: the broker daemon (topic engine, group commit, HTTP and RESP listeners)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("simplequeue")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
