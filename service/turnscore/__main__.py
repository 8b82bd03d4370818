"""``python -m turnscore`` runs the command line."""

from turnscore.cli import app

app()
