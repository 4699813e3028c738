"""sq-console (the operator TUI) and simplequeue (the scripting CLI)."""
