"""Your own network audited as the five documents are: ``case`` (Case, audit_case,
assert_case, audit_cases), ``meant`` (the network you meant, in JAX: mlp_reference),
``control`` (your loss with that network as a control variate) and ``verdict`` (correct,
inexact, wrong, from the two questions an audit asks).
"""
