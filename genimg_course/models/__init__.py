"""Models, one file per family. Plain ``nn.Module``s with typed constructors and shape comments."""
from .classifier import CNNClassifier

__all__ = ["CNNClassifier"]
