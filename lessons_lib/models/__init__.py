"""The chapters' networks, each written to read like the table it comes from."""
from .alexnet import (AlexNet2012, FourLayerCNN, LectureAlexNet, MnistAlexNet, SparseAutoencoder, Subsample,
                      TorchvisionAlexNet)
from .autoencoders import DeepAutoencoder, LinearAutoencoder, OvercompleteAutoencoder
from .lenet import LeNet
from .rnn import GRUCell, LSTMCell, Recurrent, RNNCell, SequenceModel

__all__ = ["LinearAutoencoder", "DeepAutoencoder", "OvercompleteAutoencoder", "AlexNet2012", "FourLayerCNN", "MnistAlexNet", "LectureAlexNet", "SparseAutoencoder", "Subsample", "TorchvisionAlexNet", "LeNet",
           "RNNCell", "LSTMCell", "GRUCell", "Recurrent", "SequenceModel"]
