"""The built-in zoo: layer shapes of well-known CNNs as data, no weights.

Each network is a compact table (one row per stage, block or module, not code per layer)
that a small builder turns into a shape-only :class:`accelsim.layers.Network`: descriptors with
``quant=None``, 8-bit defaults, true (floor-based, padded) output shapes and correct tensor
wiring, so ``add`` and ``concat`` name the tensors they join. Set bit widths afterwards with
:meth:`Network.with_bits`.

Variants (chosen to match the published figures the tests check against):

``alexnet``       Krizhevsky et al. 2012, 227x227, 96-256-384-384-256 filters, conv2/4/5 with
                  ``groups=2`` (the paper's two-GPU split): 724 M MACs, 61.0 M parameters.
``vgg16``         Simonyan & Zisserman 2015, configuration D: 15.47 G MACs, 138.4 M parameters.
``googlenet``     Szegedy et al. 2015 (Inception v1, Table 1), true 5x5 branches, no auxiliary
                  classifiers, no LRN: about 1.5 G MACs, 7.0 M parameters.
``resnet18``      He et al. 2016 / torchvision: 1.82 G MACs, 11.7 M parameters.
``resnet50``      torchvision "v1.5" (stride on the 3x3 of each bottleneck): 4.09 G MACs, 25.6 M.
``mobilenet_v1``  Howard et al. 2017, width 1.0, 224: 569 M MACs, 4.2 M parameters.
``mobilenet_v2``  Sandler et al. 2018, width 1.0, 224: 300 M MACs, 3.4-3.5 M parameters.

Conventions: batch N from the caller (default 1); a ReLU (or ReLU6, ``clip``) after a layer is
fused into its ``activation``; batch norm is assumed folded; a fully connected layer is op
``gemm`` with ``in_shape (N, K, 1, 1)``; flattening a ``(N, C, H, W)`` map before a classifier is
an explicit ``reshape`` layer; global average pooling is ``avgpool`` with kernel = H x W.
Tensor names equal the producing layer's name; the network input is ``"input"``.
"""

from __future__ import annotations

from typing import Callable

from accelsim.layers import LayerDescriptor, Network

Shape = tuple[int, int, int, int]


def _out_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int) -> int:
    """Floor-based output size ``(size + pad_lo + pad_hi - kernel) // stride + 1``."""
    return (size + pad_lo + pad_hi - kernel) // stride + 1


class _NetBuilder:
    """Appends descriptors while tracking each tensor's shape; ``cur`` is the last output."""

    def __init__(self, name: str, in_shape: Shape):
        self.name = name
        self.layers: list[LayerDescriptor] = []
        self.shapes: dict[str, Shape] = {"input": in_shape}
        self.cur = "input"

    def _add(self, name: str, op: str, inputs: tuple[str, ...], out_shape: Shape, **kw) -> str:
        assert name not in self.shapes, f"duplicate tensor {name}"
        layer = LayerDescriptor(name=name, op=op, inputs=inputs, output=name,
                                in_shape=self.shapes[inputs[0]], out_shape=out_shape, **kw)
        self.layers.append(layer)
        self.shapes[name] = out_shape
        self.cur = name
        return name

    def conv(self, name: str, cout: int, k: int, s: int = 1, p: int | None = None, groups: int = 1,
             act: str = "relu", src: str | None = None) -> str:
        """Square conv, padding ``k // 2`` unless given; ``groups == cin == cout`` -> depthwise."""
        src = src or self.cur
        n, cin, h, w = self.shapes[src]
        p = k // 2 if p is None else p
        out = (n, cout, _out_size(h, k, s, p, p), _out_size(w, k, s, p, p))
        op = "depthwise" if groups > 1 and groups == cin and cout % cin == 0 else "conv2d"
        return self._add(name, op, (src,), out, kernel=(k, k), stride=(s, s), padding=(p, p, p, p),
                         groups=groups, activation=act)

    def dw(self, name: str, k: int, s: int, act: str = "relu") -> str:
        c = self.shapes[self.cur][1]
        return self.conv(name, c, k, s, groups=c, act=act)

    def pool(self, name: str, op: str, k: int, s: int, p: int = 0, src: str | None = None) -> str:
        src = src or self.cur
        n, c, h, w = self.shapes[src]
        out = (n, c, _out_size(h, k, s, p, p), _out_size(w, k, s, p, p))
        return self._add(name, op, (src,), out, kernel=(k, k), stride=(s, s), padding=(p, p, p, p))

    def global_avgpool(self, name: str) -> str:
        n, c, h, w = self.shapes[self.cur]
        return self._add(name, "avgpool", (self.cur,), (n, c, 1, 1), kernel=(h, w), stride=(h, w))

    def flatten(self, name: str) -> str:
        n, c, h, w = self.shapes[self.cur]
        if h == w == 1:
            return self.cur
        return self._add(name, "reshape", (self.cur,), (n, c * h * w, 1, 1))

    def fc(self, name: str, nout: int, act: str = "none") -> str:
        n = self.shapes[self.cur][0]
        assert self.shapes[self.cur][2:] == (1, 1), "fc needs a flattened input"
        return self._add(name, "gemm", (self.cur,), (n, nout, 1, 1), activation=act)

    def add(self, name: str, a: str, b: str, act: str = "none") -> str:
        assert self.shapes[a] == self.shapes[b], (a, b, self.shapes[a], self.shapes[b])
        return self._add(name, "add", (a, b), self.shapes[a], activation=act)

    def concat(self, name: str, srcs: list[str]) -> str:
        shapes = [self.shapes[s] for s in srcs]
        n, _, h, w = shapes[0]
        assert all(s[0] == n and s[2:] == (h, w) for s in shapes), shapes
        return self._add(name, "concat", tuple(srcs), (n, sum(s[1] for s in shapes), h, w))

    def network(self, variant: str) -> Network:
        return Network(name=self.name, layers=tuple(self.layers), inputs=("input",),
                       outputs=(self.cur,),
                       meta={"source": "accelsim zoo", "variant": variant, "shape_only": True})


# --------------------------------------------------------------------------------------------
# AlexNet: (name, kind, out channels / units, kernel, stride, padding, groups)
ALEXNET = (
    ("conv1", "conv", 96, 11, 4, 0, 1),
    ("pool1", "max", 0, 3, 2, 0, 1),
    ("conv2", "conv", 256, 5, 1, 2, 2),
    ("pool2", "max", 0, 3, 2, 0, 1),
    ("conv3", "conv", 384, 3, 1, 1, 1),
    ("conv4", "conv", 384, 3, 1, 1, 2),
    ("conv5", "conv", 256, 3, 1, 1, 2),
    ("pool5", "max", 0, 3, 2, 0, 1),
    ("fc6", "fc", 4096, 0, 0, 0, 1),
    ("fc7", "fc", 4096, 0, 0, 0, 1),
    ("fc8", "fc", 1000, 0, 0, 0, 1),
)

# VGG-16 (configuration D): output channels per 3x3 conv, "M" = 2x2/2 max pool.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
VGG16_FC = (4096, 4096, 1000)

# GoogLeNet (Szegedy et al. 2015, Table 1): inception modules
# (name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); "M" = 3x3/2 max pool.
GOOGLENET = (
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    "M",
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    "M",
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
)

# ResNets: (blocks, base width, stride of the first block) per stage.
RESNET_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
RESNET18_BLOCKS = (2, 2, 2, 2)
RESNET50_BLOCKS = (3, 4, 6, 3)

# MobileNet-V1 (Howard et al. 2017, Table 1): (stride of the depthwise 3x3, pointwise out channels).
MOBILENET_V1 = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
                (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))

# MobileNet-V2 (Sandler et al. 2018, Table 2): (expansion t, out channels c, repeats n, stride s).
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def alexnet(batch: int = 1) -> Network:
    """AlexNet (Krizhevsky et al. 2012), 227x227, grouped conv2/4/5."""
    b = _NetBuilder("alexnet", (batch, 3, 227, 227))
    for name, kind, c, k, s, p, g in ALEXNET:
        if kind == "conv":
            b.conv(name, c, k, s, p, groups=g)
        elif kind == "max":
            b.pool(name, "maxpool", k, s, p)
        else:
            b.flatten("flatten")
            b.fc(name, c, act="none" if name == "fc8" else "relu")
    return b.network("Krizhevsky 2012, 227x227, groups=2 on conv2/4/5")


def vgg16(batch: int = 1) -> Network:
    """VGG-16, configuration D, 224x224."""
    b = _NetBuilder("vgg16", (batch, 3, 224, 224))
    block, idx = 1, 1
    for item in VGG16:
        if item == "M":
            b.pool(f"pool{block}", "maxpool", 2, 2)
            block, idx = block + 1, 1
        else:
            b.conv(f"conv{block}_{idx}", item, 3, 1)
            idx += 1
    b.flatten("flatten")
    for i, units in enumerate(VGG16_FC):
        b.fc(f"fc{6 + i}", units, act="relu" if i < len(VGG16_FC) - 1 else "none")
    return b.network("Simonyan & Zisserman 2015, configuration D, 224x224")


def googlenet(batch: int = 1) -> Network:
    """GoogLeNet / Inception v1, 224x224, without auxiliary classifiers."""
    b = _NetBuilder("googlenet", (batch, 3, 224, 224))
    b.conv("conv1", 64, 7, 2)
    b.pool("pool1", "maxpool", 3, 2, 1)
    b.conv("conv2_reduce", 64, 1)
    b.conv("conv2", 192, 3)
    b.pool("pool2", "maxpool", 3, 2, 1)
    n_pool = 3
    for row in GOOGLENET:
        if row == "M":
            b.pool(f"pool{n_pool}", "maxpool", 3, 2, 1)
            n_pool += 1
            continue
        name, c1, c3r, c3, c5r, c5, pp = row
        x, p = b.cur, f"inc{name}"
        br1 = b.conv(f"{p}_1x1", c1, 1, src=x)
        b.conv(f"{p}_3x3_reduce", c3r, 1, src=x)
        br3 = b.conv(f"{p}_3x3", c3, 3)
        b.conv(f"{p}_5x5_reduce", c5r, 1, src=x)
        br5 = b.conv(f"{p}_5x5", c5, 5)
        b.pool(f"{p}_pool", "maxpool", 3, 1, 1, src=x)
        brp = b.conv(f"{p}_pool_proj", pp, 1)
        b.concat(f"{p}_concat", [br1, br3, br5, brp])
    b.global_avgpool("avgpool")
    b.fc("fc", 1000)
    return b.network("Szegedy et al. 2015 (Inception v1), 5x5 branches, no aux classifiers")


def _resnet(name: str, blocks: tuple[int, ...], bottleneck: bool, batch: int, variant: str) -> Network:
    b = _NetBuilder(name, (batch, 3, 224, 224))
    b.conv("conv1", 64, 7, 2)
    b.pool("maxpool", "maxpool", 3, 2, 1)
    expansion = 4 if bottleneck else 1
    for stage, ((width, stride), n) in enumerate(zip(RESNET_STAGES, blocks), start=2):
        for i in range(n):
            s = stride if i == 0 else 1
            x, p = b.cur, f"layer{stage - 1}.{i}"
            cin, cout = b.shapes[x][1], width * expansion
            if bottleneck:
                b.conv(f"{p}.conv1", width, 1, src=x)
                b.conv(f"{p}.conv2", width, 3, s)
                y = b.conv(f"{p}.conv3", cout, 1, act="none")
            else:
                b.conv(f"{p}.conv1", width, 3, s, src=x)
                y = b.conv(f"{p}.conv2", cout, 3, act="none")
            short = x
            if s != 1 or cin != cout:
                short = b.conv(f"{p}.downsample", cout, 1, s, act="none", src=x)
            b.add(f"{p}.add", y, short, act="relu")
    b.global_avgpool("avgpool")
    b.fc("fc", 1000)
    return b.network(variant)


def resnet18(batch: int = 1) -> Network:
    """ResNet-18 (He et al. 2016; torchvision layout), 224x224."""
    return _resnet("resnet18", RESNET18_BLOCKS, False, batch, "He et al. 2016 / torchvision, 224x224")


def resnet50(batch: int = 1) -> Network:
    """ResNet-50, torchvision v1.5 (stride on the bottleneck's 3x3), 224x224."""
    return _resnet("resnet50", RESNET50_BLOCKS, True, batch,
                   "torchvision v1.5 (stride on the 3x3 conv), 224x224")


def mobilenet_v1(batch: int = 1) -> Network:
    """MobileNet-V1, width multiplier 1.0, 224x224; depthwise layers are op ``depthwise``."""
    b = _NetBuilder("mobilenet_v1", (batch, 3, 224, 224))
    b.conv("conv1", 32, 3, 2)
    for i, (s, cout) in enumerate(MOBILENET_V1, start=1):
        b.dw(f"block{i}.dw", 3, s)
        b.conv(f"block{i}.pw", cout, 1)
    b.global_avgpool("avgpool")
    b.fc("fc", 1000)
    return b.network("Howard et al. 2017, width 1.0, 224x224")


def mobilenet_v2(batch: int = 1) -> Network:
    """MobileNet-V2, width multiplier 1.0, 224x224 (ReLU6 fused as ``clip``)."""
    b = _NetBuilder("mobilenet_v2", (batch, 3, 224, 224))
    b.conv("conv1", 32, 3, 2, act="clip")
    blk = 0
    for t, c, n, s in MOBILENET_V2:
        for i in range(n):
            x, p = b.cur, f"block{blk}"
            cin = b.shapes[x][1]
            stride = s if i == 0 else 1
            if t != 1:
                b.conv(f"{p}.expand", cin * t, 1, act="clip", src=x)
            b.dw(f"{p}.dw", 3, stride, act="clip")
            y = b.conv(f"{p}.project", c, 1, act="none")
            if stride == 1 and cin == c:
                b.add(f"{p}.add", y, x)
            blk += 1
    b.conv("conv_last", 1280, 1, act="clip")
    b.global_avgpool("avgpool")
    b.fc("fc", 1000)
    return b.network("Sandler et al. 2018, width 1.0, 224x224")


ZOO: dict[str, Callable[..., Network]] = {
    "alexnet": alexnet,
    "vgg16": vgg16,
    "googlenet": googlenet,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
}
"""Zoo name -> builder ``(batch: int = 1) -> Network``."""
