"""The ``slawatch`` command line: the composition root; flags -> settings -> parts."""
