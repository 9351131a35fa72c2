"""Bugs the hostile corpus found in the project code; the tests that show them are strict xfails."""

BUG_MALFORMED = (
    "BUG: parse_feed accepts a not-well-formed feed as healthy when feedparser's loose parser recovers a "
    "channel title but no usable entry: the bozo exception is dropped and the feed reads as 'ok' with 0 entries"
)
BUG_TRICKLE_HEADERS = (
    "BUG: total_timeout_s is only checked between body chunks (GuardedHttpClient._read_capped); a server "
    "that sends its status line and headers one byte a second never trips the 2 s read timeout and holds "
    "the worker for as long as it likes"
)
BUG_BOMB_MEMORY = (
    "BUG: the body cap is checked after httpx has inflated a whole network read; zlib is called without "
    "max_length, so one 64 kB read of a gzip bomb becomes ~64 MB (and stacked 'gzip, gzip' encodings "
    "multiply it) before TooLarge is raised"
)
BUG_QUADRATIC = (
    "BUG: parse_feed lets feedparser expand internal DTD entities; feedparser keeps 'safe' entities with "
    "plain values, so one 10 kB entity referenced 2,000 times yields a 20-million-character title (and "
    "~90 MB of memory) from a 22 kB feed, and nothing caps the title length"
)
