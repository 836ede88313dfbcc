"""Mail in (:mod:`.incoming`) and out (:mod:`.outgoing`), and the text work on what
people wrote (:mod:`.text`), over the list domain's address forms (:mod:`.addresses`).
Mail out never imports mail in, and the text work imports neither (pyproject.toml's
import contracts), so each can be read and changed on its own."""
