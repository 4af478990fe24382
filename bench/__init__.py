"""Scale data and benchmarks: ``qaf-bench generate`` and ``qaf-bench run``.

Not part of the product: nothing here is imported by the web app or services.
See docs/performance.md.
"""
