"""Code shared by the Lantern agent and collector: the wire contract and the detection library."""

__version__ = "0.1.0"
