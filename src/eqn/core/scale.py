"""The energy scale, defined once: 0.0 (absent) to ``MAX_ENERGY`` (strongest)."""

MAX_ENERGY = 10.0
