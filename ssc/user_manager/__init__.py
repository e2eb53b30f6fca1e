"""The D-Bus edge to the user's own systemd manager: starting transient units, steering running
ones, and ssc's own user units.
"""
