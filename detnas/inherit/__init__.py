"""Weight inheritance from trained checkpoints: checkpoint -> genome, channel bookkeeping, slice/grow, BN re-estimation.

Nothing in this package imports from ``detnas.evaluate``, ``detnas.proxies``, ``detnas.search`` or ``detnas.cli``, so
those can build on it without import cycles.
"""
