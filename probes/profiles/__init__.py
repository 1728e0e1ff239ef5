"""Protocol profiles (PROFILES.md): how the probe talks to one WebSocket dialect, as data.

``model`` is the typed profile, ``parse`` validates one profile table, ``registry``
holds the built-ins and resolves ``profile = NAME|PATH``, ``render`` prints a
profile back as TOML, ``paths`` and ``templates`` are the two small languages
a profile is written in.
"""
