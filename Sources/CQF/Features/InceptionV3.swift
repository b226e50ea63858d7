// pytorch-fid's Inception v3 for FID and IS, forward only, in our engine: what
// `pytorch_fid.inception.InceptionV3` computes for its 2048-d pool block (the features FID
// compares) and what `fid_inception_v3()`'s fc weight makes of them: the 1008 logits whose softmax
// the Inception Score takes, without the fc's bias, as Salimans et al.'s code (the MatMul before
// the bias in the TensorFlow graph) and torch-fidelity's default (`logits_unbiased`) take them;
// from pytorch-fid's weights converted to safetensors
// (launch/convert-inception.py) under pytorch-fid's own state-dict names. It is not torchvision's
// Inception (other blocks and weights) and not a trainable network: batch norms are folded into
// the convolutions when the file is read.

/// pytorch-fid's FID Inception v3: (N, 1 or 3, H, W) images in [0, 1] -> 2048 pool features and
/// 1008 unbiased logits per image.
public final class InceptionV3: FeatureNetwork {
    public let name = "inception-v3-fid"
    public let featureCount = 2048
    public let classCount = 1008
    /// Images per forward pass. At 299x299 one image's activations add up to tens of MB (the
    /// largest, 64 x 147 x 147, is 5.5 MB), and the engine keeps each size's buffers for reuse:
    /// measured at one thread, 10 images per pass run at 9.3 images/s in 0.74 GB, 50 (pytorch-fid's
    /// default batch) at 7.1 images/s in 3.1 GB.
    public var maximumBatch = 10

    private let stem: [FoldedConv]                 // Conv2d_1a_3x3 ... Conv2d_4a_3x3
    private let mixed: [InceptionBlock]            // Mixed_5b ... Mixed_7c
    private let classifierWeight: Tensor           // fc.weight (1008, 2048); fc.bias is not used

    /// Reads pytorch-fid's state dict from the safetensors file at `path`. Every tensor the
    /// network uses is checked by name and shape: a missing or misshapen one throws one line
    /// naming the file, the tensor and the shape expected. Other tensors (num_batches_tracked)
    /// are ignored.
    public init(contentsOf path: String) throws {
        let weights = InceptionWeights(file: try SafeTensors.read(path: path))
        stem = try [
            FoldedConv(weights, "Conv2d_1a_3x3", in: 3, out: 32, kernel: (3, 3), stride: 2),
            FoldedConv(weights, "Conv2d_2a_3x3", in: 32, out: 32, kernel: (3, 3)),
            FoldedConv(weights, "Conv2d_2b_3x3", in: 32, out: 64, kernel: (3, 3), padding: (1, 1)),
            FoldedConv(weights, "Conv2d_3b_1x1", in: 64, out: 80, kernel: (1, 1)),
            FoldedConv(weights, "Conv2d_4a_3x3", in: 80, out: 192, kernel: (3, 3)),
        ]
        mixed = try [
            InceptionA(weights, "Mixed_5b", in: 192, poolFeatures: 32),
            InceptionA(weights, "Mixed_5c", in: 256, poolFeatures: 64),
            InceptionA(weights, "Mixed_5d", in: 288, poolFeatures: 64),
            InceptionB(weights, "Mixed_6a", in: 288),
            InceptionC(weights, "Mixed_6b", in: 768, channels7x7: 128),
            InceptionC(weights, "Mixed_6c", in: 768, channels7x7: 160),
            InceptionC(weights, "Mixed_6d", in: 768, channels7x7: 160),
            InceptionC(weights, "Mixed_6e", in: 768, channels7x7: 192),
            InceptionD(weights, "Mixed_7a", in: 768),
            InceptionE(weights, "Mixed_7b", in: 1280, pool: .average),
            InceptionE(weights, "Mixed_7c", in: 2048, pool: .max),
        ]
        classifierWeight = try weights.tensor("fc.weight", [classCount, featureCount])
    }

    /// Any size (pytorch-fid resizes to 299x299), gray or RGB.
    public func check(_ shape: ImageShape) throws {
        guard shape.channels == 1 || shape.channels == 3 else {
            throw DataError("\(name) takes gray or RGB images, got \(shape.channels) channels.")
        }
    }

    public func evaluate(_ images: Tensor) -> (features: Tensor, logits: Tensor) {
        precondition(images.rank == 4 && (images.shape[1] == 1 || images.shape[1] == 3),
                     "Inception v3 takes (N, 1 or 3, H, W) images, got \(images.shape).")
        precondition(!images.requiresGrad, "Inception v3 is forward only, but its images require gradients.")
        let count = images.shape[0]
        let features = Tensor(uninitialized: [count, featureCount])
        let logits = Tensor(uninitialized: [count, classCount])
        let imageSize = images.count / max(count, 1)
        for start in stride(from: 0, to: count, by: maximumBatch) {
            let batch = min(maximumBatch, count - start)
            let slice = Tensor(shape: [batch] + images.shape.dropFirst(), storage: images.storage,
                               offset: images.offset + start * imageSize)
            let pooled = poolFeatures(of: slice)
            let classes = matmul(pooled, classifierWeight, transposeB: true)
            (features.data + start * featureCount).update(from: pooled.data, count: pooled.count)
            (logits.data + start * classCount).update(from: classes.data, count: classes.count)
        }
        return (features, logits)
    }

    /// The 2048-d output of the final average pool, (N, 2048).
    private func poolFeatures(of images: Tensor) -> Tensor {
        var x = pytorchFIDInput(images)                                                  // (N, 3, 299, 299)
        x = stem[2](stem[1](stem[0](x)))                                                 // (N, 64, 147, 147)
        x = stem[4](stem[3](maxPool2d(x, kernel: 3, stride: 2)))                         // (N, 192, 71, 71)
        x = maxPool2d(x, kernel: 3, stride: 2)                                           // (N, 192, 35, 35)
        for block in mixed { x = block(x) }                                              // (N, 2048, 8, 8)
        return globalAveragePool(x)
    }

    /// What pytorch-fid feeds its first layer: the images resized to 299x299 by
    /// `F.interpolate(mode='bilinear', align_corners=False)` (an identity at 299x299, skipped),
    /// scaled from [0, 1] to [-1, 1], and gray ones repeated to three channels (as pytorch-fid's
    /// loader converts them to RGB; resizing and scaling act on each channel alike).
    private func pytorchFIDInput(_ images: Tensor) -> Tensor {
        let size = 299
        let resized = images.shape[2] == size && images.shape[3] == size ? images : resizedBilinear(images, height: size, width: size)
        let scaled = 2 * resized - 1
        return scaled.shape[1] == 1 ? concatChannels([scaled, scaled, scaled]) : scaled
    }
}
