"""The commands this distribution adds to ``jitops``: ``demo`` and ``sandbox github|vault``.

jitops' own CLI lists them and loads them from here when they run; without this distribution
installed it says how to install it.
"""
