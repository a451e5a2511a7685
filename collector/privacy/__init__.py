"""Privacy: the data inventory and subject access."""
