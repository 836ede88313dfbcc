"""Reading what people wrote: MIME parsed into plain values, HTML made text, quoted
replies, signatures, filter clutter and our own links taken out. Pure text work on
mail already received: nothing here knows of the gateway's steps or of sending."""
