"""Heuristic quality filters (Gopher, C4, FineWeb) and simple length limits."""
