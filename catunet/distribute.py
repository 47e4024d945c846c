"""tf.distribute strategies for ``--strategy``.

* ``default``: one device (TensorFlow's default strategy).
* ``mirrored``: ``tf.distribute.MirroredStrategy`` over every GPU of this
  machine (or every logical CPU device when there is no GPU): one model
  copy per device, gradients all-reduced every step.
* ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy`` across
  machines, each started with its own ``TF_CONFIG`` (see the README).

``--batch-size`` is per replica; the global batch is ``batch_size x
replicas``, and Keras splits each global batch across the replicas.
"""

from catunet.errors import CatunetError

STRATEGIES = ("default", "mirrored", "multiworker")


def get_strategy(name):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or \
            tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise CatunetError(f"unknown strategy {name!r}; choose from "
                       f"{', '.join(STRATEGIES)}")
