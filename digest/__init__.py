"""Daily and weekly digests; its modules arrive with the digest issue."""
