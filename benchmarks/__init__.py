"""Benchmarks of the embedlab course package: ``python -m benchmarks.run [--smoke]``.

Each topical module measures one figure and returns a :class:`benchmarks.common.Section`
(Markdown for ``benchmarks/RESULTS.md`` plus the numbers, for tests):

* :mod:`benchmarks.overhead`: ``embedlab.embed`` vs the raw sentence-transformers call;
* :mod:`benchmarks.caching`: warm :func:`embedlab.cached_encode` vs the model, and the
  incremental update after a 1% change;
* :mod:`benchmarks.search`: memory and exact top-10 time of float32 / int8 / binary search
  over 100k vectors, plus the nDCG@10 each precision keeps on the course set;
* :mod:`benchmarks.notebooks`: solution notebooks from a cold and a warm embedlab cache.

Every comparison of two code paths is *interleaved* (the two sides alternate, in a random
order each round) and reported as the median of the per-round ratios, so that load from
other processes hits both sides alike.
"""
