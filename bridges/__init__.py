"""Chat bridges (Slack, Matrix) behind one adapter protocol; its modules arrive with the chat issue."""
