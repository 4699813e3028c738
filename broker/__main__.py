"""`python -m broker` runs simplequeued."""

from .daemon import main

main()
