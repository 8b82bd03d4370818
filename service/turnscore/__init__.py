"""turnscore: turn-level rewards and dual-level advantages for RL on tool use."""

__version__ = "0.1.0"
