"""The pure core: plain data and ``now`` in, decisions out; no git, GitHub, Vault or network.

Grant files (``grant``, ``schema``, ``yamlsafe``), the policy and its typed settings
(``policy``, ``webhooks``), the checks and the approval matcher, the issue gate (``gate``),
what to commit (``plan``, ``trailers``, ``commits``) and the texts people read (``prcomment``,
``inert``). See docs/architecture.md.
"""
