"""``python -m dicomnet`` runs the command line toolbox."""

import sys

from dicomnet.cli.main import main

sys.exit(main())
