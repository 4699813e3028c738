"""`make bench`: simplequeued measured side by side with Redis on this machine.

Not collected by pytest (`norecursedirs`). Run `python -m tests.bench --help` from the
repo root for the options; every scenario starts its systems as subprocesses on loopback.
"""
