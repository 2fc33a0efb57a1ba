"""The report's section on the network: BSP and averaging over real links, beside the cost model.

The figures are those of ``pdsgd bench network`` (:mod:`pdsgd.netlab.costs`):
for each link profile, samples per second of BSP and of parameter averaging
with each K, measured on a lab of network namespaces, beside the cost model's
prediction. A live measurement takes minutes and needs root, so only a
profile that asks for it (``full``) measures one, where namespaces can be
made; otherwise the section shows the run kept with the course
(``notebooks/figures/network.json``) and says so.

* :func:`network_study`: what ``study.json`` keeps (the source, and the result);
* :func:`network_section`: the section, every finding built from those numbers.
"""

from __future__ import annotations

from pdsgd.errors import PdsgdError
from pdsgd.netlab import costs, hosts
from pdsgd.study.markdown import table

KEPT_NAME = "notebooks/figures/network.json"


def network_study(live=False):
    """The network figures for the report: ``{"source", "why", "result"}``.

    Parameters
    ----------
    live : bool
        Measure here (minutes, root) where namespaces can be made; else, and
        where they cannot, or the measurement fails, the kept run.
    """
    why = hosts.unavailable()
    if live and why is None:
        try:
            return {"source": "live", "why": None, "result": costs.run()}
        except PdsgdError as error:
            why = f"the measurement failed: {error}"
    return {"source": "kept", "why": why, "result": costs.load(costs.KEPT)}


def _link(profile):
    link = "no limit" if profile["mbit"] is None else f"{profile['mbit']:g} Mbit/s"
    if profile["delay"]:
        link += f" + {1e3 * profile['delay']:g} ms at each end"
    return link


def _ratio(row, key):
    return row["samples_per_second"] / row[f"{key}_samples_per_second"]


def _span(values):
    lo, hi = min(values), max(values)
    return f"{lo:.2f}x" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}x to {hi:.2f}x"


def _source(network):
    if network["source"] == "live":
        return "Measured in this run by `pdsgd bench network` (network namespaces on this machine)."
    if network["why"] is not None:
        return f"Not measured here: {network['why']}; the table is the run kept with the " \
               f"course (`{KEPT_NAME}`)."
    return (f"The table is the run kept with the course (`{KEPT_NAME}`); `pdsgd bench network` "
            "(root, a few minutes) measures it again on this machine.")


def network_section(study):
    """The report's section on the network, from ``study["network"]``; [] without it."""
    network = study.get("network")
    if not network:
        return []
    r = network["result"]
    rows, profiles = r["rows"], r["profiles"]
    names = list(dict.fromkeys(row["profile"] for row in rows))
    parts = ["## Over a network: the class cluster on real links", _source(network),
             f"{r['hosts']} student hosts (network namespaces, one Dask worker each) and a "
             "teacher's host (the scheduler and the broker), TLS with the class's bundle; "
             f"{'-'.join(map(str, r['sizes']))}, b = {r['micro_batch']}. Predicted: the "
             "same round on the bare lab, plus the round's bytes (`pdsgd.engine.traffic`) over "
             "the bandwidth, plus a round trip per crossing of the barrier (through both ends' "
             "links: 4 x the delay). *N copies*: the same, with the new weights counted once "
             "per worker, as the Dask backend sends them, instead of once.",
             table(["link", "run", "samples/s", "predicted", "measured / predicted",
                    "N copies", "measured / N copies"],
                   [(f"{row['profile']}: {_link(profiles[row['profile']])}", row["name"],
                     f"{row['samples_per_second']:,.1f}",
                     f"{row['predicted_samples_per_second']:,.1f}",
                     f"{_ratio(row, 'predicted'):.2f}x",
                     f"{row['copied_samples_per_second']:,.1f}", f"{_ratio(row, 'copied'):.2f}x")
                    for row in rows])]
    spans = [f"- **{name}** ({_link(profiles[name])}): measured / predicted "
             f"{_span([_ratio(x, 'predicted') for x in rows if x['profile'] == name])}, "
             f"measured / N copies "
             f"{_span([_ratio(x, 'copied') for x in rows if x['profile'] == name])}"
             + (" (the baseline: equal by construction)" if name == costs.BASE else "")
             for name in names]
    parts.append("How far measurement and prediction differ, per profile:\n\n" + "\n".join(spans))
    parts.append(_lesson(r, names))
    return parts


def _lesson(r, names):
    """What to take away, from the first and the last (slowest) profile's rows."""
    def row(name, algorithm, k=None):
        return next(x for x in r["rows"] if x["profile"] == name and x["algorithm"] == algorithm
                    and (k is None or x["local_steps"] == k))

    k = max(x["local_steps"] for x in r["rows"])
    first, last = names[0], names[-1]
    gain = {name: row(name, "average", k)["samples_per_second"]
            / row(name, "bsp")["samples_per_second"] for name in (first, last)}
    slow_bsp = row(last, "bsp")
    # The link's share of a round: what the model adds to the bare round (N copies).
    link = 1 - row(first, "bsp")["seconds_per_round"] / slow_bsp["copied_seconds_per_round"]
    text = (f"What to take away: a round's price is set by the link. A BSP round takes "
            f"{1e3 * row(first, 'bsp')['seconds_per_round']:.0f} ms on {first} and "
            f"{slow_bsp['seconds_per_round']:.2f} s on {last}, where the model puts "
            f"{link:.0%} of it on the link (its bytes and round trips); averaging with K = {k} "
            f"carries {k} times the samples per round and trains {gain[first]:,.0f} times as "
            f"many samples per second as BSP on {first}, {gain[last]:,.0f} times on {last}. "
            "Over a slow network, exchange the weights less often.")
    slow = [x for x in r["rows"] if x["profile"] == last]
    off = {key: max(abs(1 - _ratio(x, key)) for x in slow) for key in ("predicted", "copied")}
    if off["copied"] < off["predicted"]:
        text += (f" On {last} the model is off by up to {off['predicted']:.0%}; counting the "
                 "weights once per worker, as Dask sends them, brings it within "
                 f"{off['copied']:.0%}: a cost model is only as good as its count of what the "
                 "software really sends.")
    else:
        text += (f" On {last} the model is off by up to {off['predicted']:.0%} (N copies: "
                 f"{off['copied']:.0%}): what it leaves out costs more than the bytes it counts.")
    needed = r.get("accuracy", {}).get("samples_to_target", {})
    if needed.get("bsp") and needed.get(f"average K={k}"):
        text += (f" Averaging is not free: it needs {needed[f'average K={k}']:,} samples to "
                 f"reach test accuracy {r['accuracy']['target']:g}, BSP {needed['bsp']:,}.")
    return text
