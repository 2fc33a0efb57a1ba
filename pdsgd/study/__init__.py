"""The study behind ``make reproduce``: the grid of runs, its analysis, figures and report.

``profiles`` says what a profile (and the grid a user sets) runs; ``experiment``
runs a cached grid of training runs; ``reproduce`` ties it together and writes
``results/``; ``analysis`` turns records into speedups, fits and figures;
``claims`` judges the seed's claims curve by curve; ``costmodel`` predicts time
on more cores; ``report`` writes ``REPORT.md``; ``reference`` keeps whole runs
under ``results/reference/``.
"""
