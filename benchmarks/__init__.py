"""Benchmarks of the embedlab course package: ``python -m benchmarks.run [--smoke]``.

Each topical module measures one figure and returns a :class:`benchmarks.common.Section`
(Markdown for ``benchmarks/RESULTS.md`` plus the numbers, for tests):

* :mod:`benchmarks.overhead`: ``embedlab.embed`` vs the raw ``encode_document`` it wraps;
* :mod:`benchmarks.caching`: a warm ``cached_encode`` vs encoding, and
  ``IncrementalIndex.update`` after a 1% edit;
* :mod:`benchmarks.search`: ``embedlab.search`` and ``embedlab.quantized_search`` over
  100,000 vectors, memory, and the nDCG@10 each precision keeps on the course set;
* :mod:`benchmarks.notebooks`: each solution notebook from a cold and a warm embedding cache
  (time, peak memory, cache misses, slowest cell).

Every comparison of code paths is *interleaved* (all sides timed once per round, in a random
order) and reported as the median of the per-round ratios, so that load from other
processes hits every side alike.
"""
