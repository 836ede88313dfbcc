"""Mail in: the SMTP/LMTP listener and the IMAP poller, the spool and its processor,
and what the gateway does with each kind of message (posts, bounces, email commands,
private messages, mail for facilitators and operators), plus mbox import."""
