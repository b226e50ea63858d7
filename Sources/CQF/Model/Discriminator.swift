// The discriminator D(x) -> logit of MODEL.md section 4, for images in [-1, 1]. No
// normalisation anywhere, so the gradient penalty sees each image on its own.

/// ReLU, conv3x3, ReLU, conv3x3, then a 2x2 mean pool when `down`; shortcut: mean pool (when
/// down), then a 1x1 conv when the widths differ.
final class DiscriminatorBlock {
    let conv1: Conv2D, conv2: Conv2D
    let skip: Conv2D?
    let down: Bool

    init(_ p: ParameterSet, _ name: String, _ initializer: ParameterInitializer, in cin: Int, out cout: Int, down: Bool) {
        conv1 = Conv2D(p, "\(name).conv1", initializer, in: cin, out: cout, kernel: 3)
        conv2 = Conv2D(p, "\(name).conv2", initializer, in: cout, out: cout, kernel: 3)
        skip = cin != cout ? Conv2D(p, "\(name).skip", initializer, in: cin, out: cout, kernel: 1) : nil
        self.down = down
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv2(relu(conv1(relu(x), feedsConvolution: true)))
        var s = x
        if down { (h, s) = (meanPool2x2(h), meanPool2x2(s)) }
        return h + (skip.map { $0(s) } ?? s)
    }
}

public final class Discriminator {
    public let parameters = ParameterSet(name: "discriminator")
    private let body: (Tensor) -> Tensor

    /// `residual`: conv3x3 w, ResBlocks 2w, 4w (down), 8w (down), 16w (down), ReLU, global
    /// average pool, dense 1 (w = `width`, 16 in MODEL.md). `basic`: conv3x3 64, conv4x4/2 64, conv3x3 128, conv4x4/2 128,
    /// conv3x3 256, conv4x4/2 256, conv3x3 512, dense 1, LeakyReLU(0.2). `large` doubles every width.
    public init(kind: String, channels: Int, imageSize: Int, large: Bool, width: Int = 16, initializer: ParameterInitializer) {
        let (p, m) = (parameters, large ? 2 : 1)
        if kind == "basic" {
            let spec = [(3, 1, 64), (4, 2, 64), (3, 1, 128), (4, 2, 128), (3, 1, 256), (4, 2, 256), (3, 1, 512)]
            var c = channels
            let convs = spec.enumerated().map { i, layer -> Conv2D in
                defer { c = layer.2 * m }
                return Conv2D(p, "conv\(i)", initializer, in: c, out: layer.2 * m, kernel: layer.0, stride: layer.1, padding: 1)
            }
            let dense = Dense(p, "dense", initializer, in: c * (imageSize / 8) * (imageSize / 8), out: 1)
            body = { x in
                let h = convs.enumerated().reduce(x) { h, layer in
                    // Every activation but the last goes on to the next convolution.
                    leakyRelu(layer.element(h, feedsConvolution: layer.offset < convs.count - 1), slope: 0.2)
                }
                return dense(h.flattened())
            }
        } else {
            let w = [1, 2, 4, 8, 16].map { $0 * width * m }
            let input = Conv2D(p, "input", initializer, in: channels, out: w[0], kernel: 3)
            let blocks = (1...4).map { DiscriminatorBlock(p, "block\($0)", initializer, in: w[$0 - 1], out: w[$0], down: $0 > 1) }
            let dense = Dense(p, "dense", initializer, in: w[4], out: 1)
            body = { x in dense(globalAveragePool(relu(blocks.reduce(input(x)) { $1($0) }))) }
        }
        p.build()
    }

    /// One logit per image: (N, C, H, W) -> (N).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let logits = body(x)
        return logits.reshaped(to: [logits.shape[0]])
    }
}
