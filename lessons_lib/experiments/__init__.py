"""The chapters' registered experiments. Importing this package registers them all."""
from . import lenet  # noqa: F401
from . import rnn  # noqa: F401
from . import alexnet  # noqa: F401
from . import autoencoders  # noqa: F401
