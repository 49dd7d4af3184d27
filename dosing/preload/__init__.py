"""The command line's preloader: a process that keeps the ``dosing`` code imported, so that the
commands a person types at a workstation answer in tens of milliseconds instead of a second.

Importing SQLAlchemy alone costs three times ``python -c "import pydantic"`` here, so no command that
touches the store can start within issue 15's 3x by importing less. ``dosing preload start`` starts a
process that imports the command line's code once, frees it from the cyclic garbage collector
(``gc.freeze``) and waits on a socket only its owner can reach; each ``dosing`` command then connects,
and the preloader forks a copy of itself that runs the command with the caller's arguments,
environment, working folder, umask, resource limits, standard streams (passed as file descriptors) and
terminal, and
sends back its exit status. It holds imported code, never data: no store is opened and no setting is
read before the fork, so every command reads the store, the session, the settings and the clock
afresh, as a command started from nothing does.

- ``address``: which preloader serves this environment (a fingerprint of the code and of the
  variables that shape it) and where its socket lives. Standard library only.
- ``client``: what ``dosing`` does before importing anything else: hand the command to a preloader
  of the same fingerprint, or tell ``dosing/__main__.py`` to run it in-process.
- ``server``: the preloader itself.
"""
