"""The web archive, posting, accounts and moderation (Flask); its modules arrive with the web issue."""
