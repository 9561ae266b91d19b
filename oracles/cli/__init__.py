"""The command line: ``python -m oracles MODULE:FUNCTION`` (``cases``), what both audits'
commands write (``outputs``) and how ``--baseline`` compares two runs (``baseline``).
"""
