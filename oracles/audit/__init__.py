"""The five documents' audit: the gradient checker applied to ``reference_nn``'s networks.

``python -m oracles.audit`` runs it; ``run_audit`` measures, ``oracles.audit.judge`` judges,
``oracles.audit.report`` formats. This subpackage alone joins ``oracles`` and ``reference_nn``.
"""
