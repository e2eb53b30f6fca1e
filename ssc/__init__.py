"""ssc: start a desktop program in its own limited systemd scope, as yourself, over D-Bus."""

__version__ = "0.1.0"
