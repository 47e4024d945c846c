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

import contextlib

from catunet.errors import CatunetError
from catunet.training.config import STRATEGIES  # noqa: F401 (the API)


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


@contextlib.contextmanager
def strategy_for_fit(model, strategy):
    """The context ``model.fit`` runs in.

    Keras 3.15's ``fit`` cannot run under ``MultiWorkerMirroredStrategy``
    as it is (keras-team/keras#20585), for two reasons this works around:

    * it first builds a model made in a strategy's scope from one batch,
      which it averages with ``strategy.reduce``, and that fails ("Attempt
      to convert a value (PerReplica ...)"). So the model forgets the
      strategy it was made in and ``fit`` runs in the strategy's scope,
      where Keras finds the same strategy and builds when it traces the
      training step;
    * it averages each step's logs across workers along axis 0, which the
      scalar loss and metrics do not have. So each step returns them as
      vectors of one value, and Keras's average over the workers is the
      mean of their values.

    The training itself is TensorFlow's: gradients all-reduced across the
    workers every step. Other strategies fit as they are.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return

    def as_vectors(step):
        def vector_step(data):
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}
        return vector_step

    model._distribute_strategy = None  # Keras's own attribute (see above)
    model.train_step = as_vectors(model.train_step)
    model.test_step = as_vectors(model.test_step)
    try:
        with strategy.scope():
            yield
    finally:
        del model.train_step, model.test_step  # the class's own again
