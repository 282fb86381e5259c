"""The interoperability suite's fixtures come from dicomnet's own pytest plugin
(:mod:`dicomnet.testing.plugin`: ``dcmtk``, ``dicomnet_serve``, ``storescp``,
``dcmqrscp``, ...), as any user's suite would get them; the PostgreSQL server of the
index tests comes from postgres.py (``postgres_server``, ``postgres_url``).

Every port is chosen at run time. DCMTK must be installed (``apt-get install -y dcmtk``):
a missing binary FAILS the test, it never skips, so CI cannot pass by not testing.
"""

from postgres import postgres_server, postgres_url  # noqa: F401 - fixtures
