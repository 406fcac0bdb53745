"""Python side of examples/dask_cluster/ (demo.rs): the class the Rust struct
`Chunk` is known as. Workers import it when they unpickle the class
reference, which registers it with register_generic."""
from distributed.protocol.serialize import register_generic


class Chunk:
    pass


register_generic(Chunk)
