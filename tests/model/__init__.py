"""A reference model of DOMAIN.md §3 (reply window, daily figures, platform KPIs) and §7.

``reference`` is written from DOMAIN.md alone, for clarity and not for speed; the property
test in ``test_engine_vs_model`` checks that the engine computes the same figures.
"""
