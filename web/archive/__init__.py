"""Reading the archive on the web: communities, threads, attachments, search, feeds and mbox."""
