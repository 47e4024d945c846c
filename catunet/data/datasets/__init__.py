"""Where the data comes from: local folders, or the cat set's public source."""
