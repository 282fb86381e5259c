"""The ``dicomnet`` command line toolbox."""
