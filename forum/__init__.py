"""The domain core: config, storage, the one door for new posts, the outbox, access rules."""
