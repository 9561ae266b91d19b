"""The engine of every check: no public names (import what you call from ``oracles``).

Finite differences (``differences``), tolerances and steps (``tolerances``), the loss's own
precision (``precision``), kinks (``kinks``), which coordinates or directions are compared
(``measure``), the record a check returns (``records``), the diagnosis read off it
(``diagnosis``, ``wording``, ``slips``), what is accepted (``inputs``, ``arrays``,
``degenerate``) and the probe for optional dependencies (``optional``).
"""
