"""Notifications when a contained app reaches its memory limit: the ``ssc-notify`` watcher and
the user service that runs it.

    events.py         memory.events changes → kills, folded per app → notification text (pure)
    notifications.py  the edge to the desktop's notification server (org.freedesktop.Notifications)
    watcher.py        ``ssc-notify``: one epoll over the scopes' memory.events and the bus
    service.py        ``sscctl notify enable|disable``: install, enable and start the user service
"""
