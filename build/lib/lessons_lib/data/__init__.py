"""Data: MNIST (verified, offline-safe), a shipped sample, and device-resident loaders."""
from .loader import DeviceLoader
from .mnist_files import MnistFileError, Split, load_mnist, load_sample, locate_mnist, mnist, torchvision_root

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the 60,000 training images scaled to [0, 1]

__all__ = ["DeviceLoader", "MnistFileError", "Split", "load_mnist", "load_sample", "locate_mnist",
           "mnist", "torchvision_root", "MNIST_MEAN", "MNIST_STD"]
