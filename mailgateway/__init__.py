"""Mail in and out: addresses, parsing, trimming, composing, delivery, the SMTP/LMTP server."""
