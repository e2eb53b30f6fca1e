"""Strict isolation, applied by the launcher after its process is in its scope: bubblewrap, a
filtered session bus (xdg-dbus-proxy) and a /tmp of the app's own, as Flatpak does them.
"""
