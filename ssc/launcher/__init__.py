"""The launch path: what the ``ssc`` command does, from its command line to the program's exec.

``launch`` tells one launch; the rest are its steps. Strict isolation is a room of its own
(``ssc.strict``), and so is the per-user agent that can start the scope instead (``ssc.agent``).
"""
