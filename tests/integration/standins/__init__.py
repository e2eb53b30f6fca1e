"""Stand-ins for desktop services that the test bed has none of, run as ``python -m``."""
