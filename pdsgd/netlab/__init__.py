"""The network lab: hosts as network namespaces, links with a bandwidth and a latency."""
