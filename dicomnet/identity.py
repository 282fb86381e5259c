"""Who dicomnet says it is on the wire (PS3.7 D.3.3.2).

The implementation class UID is a UUID-derived UID (PS3.5 §B.2, root 2.25), fixed for the
project so that peers and conformance statements can recognise dicomnet; the version name
changes with each release so that a peer's logs tell which build it talked to.
"""

from __future__ import annotations

from dicomnet import __version__

IMPLEMENTATION_CLASS_UID = "2.25.240007366618135324952632525934169154624"

#: PS3.7 D.3.3.2.3: 1 to 16 characters of the default character repertoire.
IMPLEMENTATION_VERSION_NAME = ("DICOMNET_" + __version__.replace(".", ""))[:16]
