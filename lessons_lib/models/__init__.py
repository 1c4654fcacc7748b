"""The chapters' networks, each written to read like the table it comes from."""
from .lenet import LeNet

__all__ = ["LeNet"]
