"""The Python client of the cluster demo: computes on the data the Rust
program scattered and publishes the results for it to gather.

    PYTHONPATH=examples python examples/dask_cluster_compute.py tcp://127.0.0.1:8786
"""
import sys

from distributed import Client, Future

from dask_serde_demo_models import Chunk


def scaled(chunk, factor):
    out = Chunk()
    out.name = chunk.name + "-scaled"
    out.index = chunk.index + 1
    out.values = chunk.values * factor
    out.payload = chunk.payload[::-1]
    return out


def main(address):
    with Client(address, timeout=30) as client:
        array = Future("demo-array", client=client)
        chunk = Future("demo-chunk", client=client)
        total = client.submit(lambda a: float(a.sum()), array, key="demo-sum", pure=False)
        bigger = client.submit(scaled, chunk, 3.0, key="demo-scaled", pure=False)
        client.publish_dataset(demo_sum=total, demo_scaled=bigger, override=True)
        print("python: sum =", total.result(), "; scaled", bigger.result().name)


if __name__ == "__main__":
    main(sys.argv[1])
