"""Stage logic of wirewatch: pure functions from data to data, no I/O of their own."""
