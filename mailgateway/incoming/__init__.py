"""Mail in: from raw bytes to posts, by SMTP/LMTP (:mod:`.server`) or IMAP (:mod:`.imap`).

The gateway's promise is "250 means stored". So the order is:

1. at RCPT, :mod:`.recipients` refuses what cannot be delivered (unknown community,
   unknown address form, forged token): cheap, no writes;
2. at DATA, :mod:`.judging` reads the header block and applies the posting rules for
   every recipient, so a non-member hears "550 5.7.1" from us instead of a bounce later;
3. :mod:`.spooling` commits the raw bytes (the 250 is sent only after this returns);
4. the spool processor (:mod:`.spool_processor`, a process of its own) hands each
   message to :mod:`.processing`, which parses it, drafts its posts (:mod:`.drafting`)
   and stores them in one transaction that also marks it done.

Steps 2 and 4 read the same bytes twice, the header only while the sender waits. The
IMAP poller feeds the same steps, so a mailbox routes mail exactly as SMTP does. Besides
posts, mail may be a bounce, an email command, a private message between members, or
mail for the facilitators or the operators; each has its module here, as has bringing
in an archive (:mod:`.mbox_import`).
"""
