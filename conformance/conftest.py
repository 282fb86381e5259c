"""The interoperability suite's fixtures come from dicomnet's own pytest plugin
(:mod:`dicomnet.testing.plugin`: ``dcmtk``, ``dicomnet_serve``, ``storescp``,
``dcmqrscp``, ...), as any user's suite would get them.

Every port is chosen at run time. DCMTK must be installed (``apt-get install -y dcmtk``):
a missing binary FAILS the test, it never skips, so CI cannot pass by not testing.
"""
