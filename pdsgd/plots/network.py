"""The network lab's figure: samples per second over each link, measured and predicted."""

from __future__ import annotations

from pdsgd.plots.style import legend_outside, new_figure, tidied


@tidied
def plot_network(result, ax=None):
    """Samples/s per link profile, one line per run (BSP, averaging K), measured and predicted.

    ``result`` is :func:`pdsgd.netlab.costs.run`'s dict: solid lines with dots
    are measured, dashed lines with crosses the cost model's prediction (on the
    bare lab they coincide: it is the prediction's baseline).
    """
    if ax is None:
        _, (ax,) = new_figure(1, width=6.0, height=3.8)
    profiles = list(result["profiles"])
    names = list(dict.fromkeys(row["name"] for row in result["rows"]))
    for i, name in enumerate(names):
        rows = {r["profile"]: r for r in result["rows"] if r["name"] == name}
        x = [p for p in profiles if p in rows]
        ax.plot(x, [rows[p]["samples_per_second"] for p in x], "o-", color=f"C{i}",
                label=f"{name}, measured")
        ax.plot(x, [rows[p]["predicted_samples_per_second"] for p in x], "x--", color=f"C{i}",
                alpha=0.7, label=f"{name}, predicted")
    ax.set_yscale("log")
    ax.set(xlabel="link (each host's, the teacher's too)", ylabel="training samples per second",
           title=f"{result['hosts']} hosts, {'-'.join(map(str, result['sizes']))}, "
                 f"b = {result['micro_batch']}")
    legend_outside(ax)
    return ax.figure
