"""What ``sscctl`` steers: the running contained apps (``ps``, ``top``, ``set``, ``stop``).

Its desktop commands live in ``ssc.desktop``; its ``notify`` and ``agent`` commands install the
user services of ``ssc.notify`` and ``ssc.agent``.
"""
