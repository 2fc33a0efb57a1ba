"""One BLAS thread for a run, in whatever thread the run is started.

Why a module of its own. threadpoolctl (3.6 and later) lets only one Python
thread at a time set OpenBLAS's thread count when OpenBLAS keeps one shared
pool (pthreads builds, as NumPy's and SciPy's wheels are): the first thread
that sets a limit takes control, and limits set from any other thread are
silently dropped. A limit taken as a plain call (``threadpool_limits(1)``)
and undone with ``restore_original_limits()`` keeps that control for good, so
after one run on a notebook's main thread, every run a panel starts in a
background thread kept BLAS's default threads and ran 2-10x slower. Used as a
context (``__enter__``/``__exit__``), the limiter hands control back when it
ends; :func:`one_blas_thread` is that context, and :func:`blas_threads` says
what the calling thread really gets.
"""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits


def one_blas_thread():
    """A context in which BLAS uses one thread, entered from any Python thread.

    Returns
    -------
    threadpoolctl.threadpool_limits
        Already entered: leave it with ``__exit__`` (or use it in ``with``),
        which restores the previous limits and releases control of OpenBLAS.
    """
    return threadpool_limits(limits=1).__enter__()


def blas_threads():
    """The thread counts of the BLAS libraries loaded in this process, as seen from here."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
