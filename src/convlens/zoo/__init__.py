"""Reference models, built from code: ``convlens.zoo.create(name, **options)``.

- ``lenet``: Caffe's MNIST LeNet, (1, 28, 28) -> 10 class scores.
- ``siamese``: the Caffe MNIST siamese branch, (1, 28, 28) -> 2-D embedding;
  ``relu=False`` removes its one ReLU.
- ``siamese-norelu``: ``siamese`` without its ReLU (the same as ``relu=False``).
- ``smallvgg``: a small VGG-style RGB classifier, (3, 32, 32) -> 10 scores.
- ``resnet8``: residual blocks with BatchNorm and functional ReLU, (3, 32, 32) -> 10.
- ``doccnn``: a word-embedding grid (100, lines, tokens) -> 4 field logits per cell.
- ``resnet50``: the standard ImageNet ResNet-50, (3, 224, 224) -> 1,000 scores, with
  torchvision's parameter names (its weights load as they are).
"""

from .doccnn import DocCNN
from .lenet import LeNet, Siamese, siamese_norelu
from .registry import ZooEntry, create, entry, names, register
from .resnet8 import ResNet8
from .resnet50 import ResNet50
from .smallvgg import SmallVGG

register(ZooEntry("lenet", LeNet, (1, 28, 28), "classify", "Caffe MNIST LeNet"))
register(ZooEntry("siamese", Siamese, (1, 28, 28), "embed", "Caffe MNIST siamese, 2-D"))
register(
    ZooEntry("siamese-norelu", siamese_norelu, (1, 28, 28), "embed", "siamese without its ReLU")
)
register(ZooEntry("smallvgg", SmallVGG, (3, 32, 32), "classify", "small VGG, RGB"))
register(ZooEntry("resnet8", ResNet8, (3, 32, 32), "classify", "ResNet-8 with BatchNorm"))
register(ZooEntry("resnet50", ResNet50, (3, 224, 224), "classify", "ResNet-50, ImageNet"))
register(ZooEntry("doccnn", DocCNN, (100, 24, 12), "segment", "document CNN, field per cell"))

__all__ = [
    "DocCNN",
    "LeNet",
    "ResNet8",
    "ResNet50",
    "Siamese",
    "SmallVGG",
    "ZooEntry",
    "create",
    "entry",
    "names",
    "register",
]
