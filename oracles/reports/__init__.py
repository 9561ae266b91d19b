"""One report stack for both audits: the rows they judge, as terminal text, Markdown, JSON and
PNG figures; nothing is measured here.
"""
