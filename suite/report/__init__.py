"""View layer: one leaderboard view and its writers (HTML, Markdown, CSV, terminal), figures, cards."""
