"""Detection library shared by the agent (typed text) and the collector (titles, ``scan``).

Light on purpose: the agent imports it on laptops (stdlib, pyahocorasick and PyYAML only).
"""

from lantern.detection.engine import Engine
from lantern.detection.hit import Hit
from lantern.detection.incremental import IncrementalScanner

__all__ = ["Engine", "Hit", "IncrementalScanner"]
