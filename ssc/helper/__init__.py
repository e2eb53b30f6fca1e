"""What runs as root: the system helper that holds an app's limits (see contrib/polkit/)."""
