"""Workers past the cores: hosted workers against one process per worker."""

from __future__ import annotations

from pdsgd.plots.style import PlainLogLocator, legend_outside, new_figure, plain_number, tidied

#: How each ``hosting`` is named on the figure.
NAMES = {"cores": "hosted: one process per core (like goroutines)",
         "workers": "one process per worker"}


@tidied
def plot_hosting(rows, cores=None, title=None):
    """Samples/s and the scheduler's context switches against N, one line per hosting.

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`pdsgd.study.oversubscription.compare`.
    cores : int, optional
        Drawn as a vertical line: past it, processes outnumber the cores.
    title : str, optional
    """
    fig, (rate, switches) = new_figure(2, width=5.0, height=3.4)
    for i, hosting in enumerate(dict.fromkeys(r["hosting"] for r in rows)):
        mine = sorted((r for r in rows if r["hosting"] == hosting), key=lambda r: r["N"])
        n = [r["N"] for r in mine]
        style = dict(marker="o", color=f"C{i}", label=NAMES.get(hosting, hosting))
        rate.plot(n, [r["samples/s"] for r in mine], **style)
        switches.plot(n, [r["involuntary switches / iteration"] for r in mine], **style)
    for ax in (rate, switches):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(PlainLogLocator(base=2))
        ax.xaxis.set_major_formatter(plain_number)
        ax.yaxis.set_major_formatter(plain_number)
        ax.set_xlabel("N, workers")
        ax.grid(alpha=0.3)
        if cores:
            ax.axvline(cores, color="grey", linestyle=":", label=f"{cores} cores")
    rate.set_ylim(bottom=0)
    rate.set(ylabel="training samples per second (median)", title="Throughput")
    switches.set(ylabel="involuntary context switches per iteration",
                 title="Turns the scheduler forced")
    legend_outside(switches)
    if title:
        fig.suptitle(title)
    return fig
