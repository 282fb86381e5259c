"""PDU wire format (PS3.8 §9.3): dataclasses, codec and an incremental framer. No I/O."""
