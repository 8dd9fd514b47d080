"""Extra read-outs of ``chatwatch backfill``: per-agent rows, violations, history, summary.

Per-agent rows, violation counts, an OpenMetrics history and an HTML summary.

Each is a *listener* fed by the backfill driver with what the engine did (events applied, their
outcomes, breaches declared by the watermark). None of them sits in the engine's hot path, so
a plain ``chatwatch backfill`` pays nothing for them.
"""
