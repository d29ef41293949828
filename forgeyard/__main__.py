"""`python -m forgeyard …` runs the CLI (the application layer: forgeyard/app)."""

from forgeyard.app.cli import main

main()
