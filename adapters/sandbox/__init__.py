"""The sandboxes: real HTTP servers on loopback standing in for LAPOR-SP4N and each city
app, each implementing its contract and its profiles, with fault injection.

``server`` is what they share (the threaded server, requests and answers, faults);
``lapor``, ``tanjak``, ``ujar``, ``sambat`` and ``open311`` are one each; ``region`` runs
them all as one region with the accounts and keys the demo and the tests use. Shipped
with the bridge (``lapor-bridge demo`` needs them), never imported by ``bridge/`` or by an
adapter's client.
"""
