"""Offline evaluation of prefetching on access traces: trace readers (:mod:`.traces`) and the replay
of a trace through a cache with and without prefetching (:mod:`.simulation`)."""
