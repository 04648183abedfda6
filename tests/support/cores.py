"""Where the session's extra servers run: on the embedding server's cores.

The default servers split the machine (``vllm_accel.server.share_cores``): the chat server,
which most tests load, has the first cores, the embedding server the rest. The private keyed
server and the classification server are mostly idle beside those, and run on the second
slice, so they never stall the chat server's threads.
"""

from __future__ import annotations

from vllm_accel.server import ServerSpec, bind_cpus, cpu_slices


def beside_the_chat_server(spec: ServerSpec) -> ServerSpec:
    """``spec`` bound to the second of two CPU slices (unchanged on a 1-CPU machine)."""
    slices = cpu_slices(2)
    return spec if slices is None else bind_cpus(spec, slices[1])
