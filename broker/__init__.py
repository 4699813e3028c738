"""simplequeued: the broker daemon (topic engine, group commit, HTTP and RESP listeners)."""
