"""ssc's per-user launch agent: a resident process that starts contained apps' scopes.

The launcher hands the agent its own PIDFD over a unix socket; the agent, which keeps a warm
connection to the user manager and the parsed profiles, plans, starts and verifies the scope
(``ssc.launcher.launch_plan``, as the launcher itself would) and answers; the launcher then becomes
the program. ``protocol`` is the pure wire format, ``client`` the launcher's side, ``service`` the
agent, ``install`` the ``sscctl agent enable|disable`` that installs its user units.
"""
