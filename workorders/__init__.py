"""Broadband work orders worked by several parties at once.

The fixed top-level packages hold the Temporal and HTTP layers (``workflows``,
``activities``, ``api``, ``models``, ``worker``); this package holds what they share:
settings, the work-order database, regions, the NMS interface and the command line.
"""
