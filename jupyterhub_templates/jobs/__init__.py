"""Jobs: definitions that make a notebook from a template and run it as their owner,
when asked or on a cron schedule, each slot once across replicas.

:mod:`.definitions` (fields, checks, answer shapes), :mod:`.schedule` (cron slots),
:mod:`.records` (the tables), :mod:`.scheduler` (the loop that fires and dispatches).
"""
