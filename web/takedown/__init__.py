"""Taking things down on the web: authors' edits and deletions, reports, hiding, bans, the log."""
