"""Analysis layer: pure functions of the results frame (leaderboard, ranks, ratios, Pareto, compare)."""
