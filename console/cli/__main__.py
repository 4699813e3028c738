"""`python -m console.cli` runs `simplequeue`."""

from console.cli import main

main()
