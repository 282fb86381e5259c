"""``python -m dicomnet`` runs the command line toolbox."""

from dicomnet.cli.main import entry

entry()
