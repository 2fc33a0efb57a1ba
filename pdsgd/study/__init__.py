"""The study behind ``make reproduce``: the grid of runs, its analysis, figures and report.

``experiment`` runs a cached grid of training runs; ``reproduce`` defines the
profiles and writes ``results/``; ``analysis`` turns records into speedups and
fits; ``costmodel`` predicts time on more cores; ``figures`` draws them;
``report`` writes ``REPORT.md``.
"""
