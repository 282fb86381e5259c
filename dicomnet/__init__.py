"""dicomnet: asyncio-native DICOM networking, written from scratch."""

__version__ = "0.1.0"
