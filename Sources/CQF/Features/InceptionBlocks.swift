// The layers of pytorch-fid's FID Inception v3 (pytorch_fid/inception.py, built on torchvision's
// Inception3): BasicConv2d with its batch norm folded in, and the five kinds of mixed block,
// each with pytorch-fid's patches (average pools that skip the padding, a max pool in the last
// block). Each block's parameters are read by pytorch-fid's state-dict names under its prefix
// ("Mixed_6b.branch7x7_2"), and its branches are joined along the channels in torchvision's order.

/// The tensors of a pytorch-fid state dict saved as safetensors, each checked by name and shape.
struct InceptionWeights {
    let file: SafeTensorsFile

    /// Tensor `name`, which must exist with exactly `shape`; otherwise one line naming the file,
    /// the tensor and the shape it should have.
    func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
        guard let info = file.tensors[name] else {
            throw SafeTensorsError("\(file.path): tensor '\(name)' is missing; pytorch-fid's Inception v3 needs it with shape \(shape).")
        }
        guard info.shape == shape else {
            throw SafeTensorsError("\(file.path): tensor '\(name)' has shape \(info.shape); pytorch-fid's Inception v3 needs shape \(shape).")
        }
        return try file.tensor(name)
    }
}

/// torchvision's BasicConv2d (a convolution without bias, batch norm with eps 0.001 on its
/// running statistics, ReLU) with the batch norm folded into the convolution when it is loaded:
///   relu(conv(x, w * s) + beta - mean * s),   s = gamma / sqrt(running_var + 0.001) per output channel,
/// computed in double and rounded once. One convolution and one pass over its output, where
/// PyTorch's evaluation mode runs the convolution, then the batch norm, then the ReLU.
struct FoldedConv {
    let weight: Tensor       // (K, C, R, S), scaled by s
    let bias: Tensor         // (K)
    let stride: Int
    let padding: (height: Int, width: Int)

    init(_ weights: InceptionWeights, _ name: String, in inChannels: Int, out outChannels: Int,
         kernel: (height: Int, width: Int), stride: Int = 1, padding: (height: Int, width: Int) = (0, 0)) throws {
        weight = try weights.tensor("\(name).conv.weight", [outChannels, inChannels, kernel.height, kernel.width])
        let (gamma, beta, mean, variance) = try (
            weights.tensor("\(name).bn.weight", [outChannels]), weights.tensor("\(name).bn.bias", [outChannels]),
            weights.tensor("\(name).bn.running_mean", [outChannels]), weights.tensor("\(name).bn.running_var", [outChannels]))
        bias = Tensor(uninitialized: [outChannels])
        let perOutput = inChannels * kernel.height * kernel.width
        for k in 0..<outChannels {
            let scale = Double(gamma.data[k]) / (Double(variance.data[k]) + 0.001).squareRoot()
            let filter = weight.data + k * perOutput
            for i in 0..<perOutput { filter[i] = Float(Double(filter[i]) * scale) }
            bias.data[k] = Float(Double(beta.data[k]) - Double(mean.data[k]) * scale)
        }
        self.stride = stride
        self.padding = padding
    }

    /// Stride 1, padded to keep the image's size: the blocks' 1x1, 1xn, nx1 and 3x3 convolutions.
    init(sizeKeeping weights: InceptionWeights, _ name: String, in inChannels: Int, out outChannels: Int,
         kernel: (height: Int, width: Int)) throws {
        try self.init(weights, name, in: inChannels, out: outChannels, kernel: kernel,
                      padding: ((kernel.height - 1) / 2, (kernel.width - 1) / 2))
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        conv2dReLU(x, weight, bias: bias, stride: stride, padding: padding)
    }
}

/// One mixed block: (N, C, H, W) -> (N, C', H', W').
protocol InceptionBlock {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// The 3x3 average pool, stride 1, padding 1, that pytorch-fid's FIDInceptionA, C and E_1 put
/// before their pool branch: it divides by the taps inside the image, as TensorFlow's does.
private func fidAveragePool(_ x: Tensor) -> Tensor {
    averagePool2dExcludingPadding(x, kernel: 3, stride: 1, padding: 1)
}

/// FIDInceptionA (Mixed_5b, 5c, 5d at 35x35): 1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | avg pool, 1x1.
/// C -> 64 + 64 + 96 + poolFeatures channels.
struct InceptionA: InceptionBlock {
    let branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branchPool: FoldedConv

    init(_ weights: InceptionWeights, _ prefix: String, in c: Int, poolFeatures: Int) throws {
        branch1x1 = try FoldedConv(weights, "\(prefix).branch1x1", in: c, out: 64, kernel: (1, 1))
        branch5x5_1 = try FoldedConv(weights, "\(prefix).branch5x5_1", in: c, out: 48, kernel: (1, 1))
        branch5x5_2 = try FoldedConv(weights, "\(prefix).branch5x5_2", in: 48, out: 64, kernel: (5, 5), padding: (2, 2))
        branch3x3dbl_1 = try FoldedConv(weights, "\(prefix).branch3x3dbl_1", in: c, out: 64, kernel: (1, 1))
        branch3x3dbl_2 = try FoldedConv(weights, "\(prefix).branch3x3dbl_2", in: 64, out: 96, kernel: (3, 3), padding: (1, 1))
        branch3x3dbl_3 = try FoldedConv(weights, "\(prefix).branch3x3dbl_3", in: 96, out: 96, kernel: (3, 3), padding: (1, 1))
        branchPool = try FoldedConv(weights, "\(prefix).branch_pool", in: c, out: poolFeatures, kernel: (1, 1))
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        concatChannels([branch1x1(x), branch5x5_2(branch5x5_1(x)),
                        branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))), branchPool(fidAveragePool(x))])
    }
}

/// InceptionB (Mixed_6a, 35x35 -> 17x17): 3x3 stride 2 | 1x1, 3x3, 3x3 stride 2 | max pool 3x3
/// stride 2. C -> 384 + 96 + C channels.
struct InceptionB: InceptionBlock {
    let branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3: FoldedConv

    init(_ weights: InceptionWeights, _ prefix: String, in c: Int) throws {
        branch3x3 = try FoldedConv(weights, "\(prefix).branch3x3", in: c, out: 384, kernel: (3, 3), stride: 2)
        branch3x3dbl_1 = try FoldedConv(weights, "\(prefix).branch3x3dbl_1", in: c, out: 64, kernel: (1, 1))
        branch3x3dbl_2 = try FoldedConv(weights, "\(prefix).branch3x3dbl_2", in: 64, out: 96, kernel: (3, 3), padding: (1, 1))
        branch3x3dbl_3 = try FoldedConv(weights, "\(prefix).branch3x3dbl_3", in: 96, out: 96, kernel: (3, 3), stride: 2)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        concatChannels([branch3x3(x), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
                        maxPool2d(x, kernel: 3, stride: 2)])
    }
}

/// FIDInceptionC (Mixed_6b ... 6e at 17x17), factorised 7x7s: 1x1 | 1x1, 1x7, 7x1 |
/// 1x1, 7x1, 1x7, 7x1, 1x7 | avg pool, 1x1. C -> 4 x 192 channels.
struct InceptionC: InceptionBlock {
    let branch1x1, branch7x7_1, branch7x7_2, branch7x7_3: FoldedConv
    let branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branchPool: FoldedConv

    init(_ weights: InceptionWeights, _ prefix: String, in c: Int, channels7x7 c7: Int) throws {
        func conv(_ name: String, _ inChannels: Int, _ outChannels: Int, _ kernel: (Int, Int)) throws -> FoldedConv {
            try FoldedConv(sizeKeeping: weights, "\(prefix).\(name)", in: inChannels, out: outChannels, kernel: kernel)
        }
        branch1x1 = try conv("branch1x1", c, 192, (1, 1))
        branch7x7_1 = try conv("branch7x7_1", c, c7, (1, 1))
        branch7x7_2 = try conv("branch7x7_2", c7, c7, (1, 7))
        branch7x7_3 = try conv("branch7x7_3", c7, 192, (7, 1))
        branch7x7dbl_1 = try conv("branch7x7dbl_1", c, c7, (1, 1))
        branch7x7dbl_2 = try conv("branch7x7dbl_2", c7, c7, (7, 1))
        branch7x7dbl_3 = try conv("branch7x7dbl_3", c7, c7, (1, 7))
        branch7x7dbl_4 = try conv("branch7x7dbl_4", c7, c7, (7, 1))
        branch7x7dbl_5 = try conv("branch7x7dbl_5", c7, 192, (1, 7))
        branchPool = try conv("branch_pool", c, 192, (1, 1))
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let double = branch7x7dbl_5(branch7x7dbl_4(branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x)))))
        return concatChannels([branch1x1(x), branch7x7_3(branch7x7_2(branch7x7_1(x))), double, branchPool(fidAveragePool(x))])
    }
}

/// InceptionD (Mixed_7a, 17x17 -> 8x8): 1x1, 3x3 stride 2 | 1x1, 1x7, 7x1, 3x3 stride 2 |
/// max pool 3x3 stride 2. C -> 320 + 192 + C channels.
struct InceptionD: InceptionBlock {
    let branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4: FoldedConv

    init(_ weights: InceptionWeights, _ prefix: String, in c: Int) throws {
        branch3x3_1 = try FoldedConv(weights, "\(prefix).branch3x3_1", in: c, out: 192, kernel: (1, 1))
        branch3x3_2 = try FoldedConv(weights, "\(prefix).branch3x3_2", in: 192, out: 320, kernel: (3, 3), stride: 2)
        branch7x7x3_1 = try FoldedConv(weights, "\(prefix).branch7x7x3_1", in: c, out: 192, kernel: (1, 1))
        branch7x7x3_2 = try FoldedConv(weights, "\(prefix).branch7x7x3_2", in: 192, out: 192, kernel: (1, 7), padding: (0, 3))
        branch7x7x3_3 = try FoldedConv(weights, "\(prefix).branch7x7x3_3", in: 192, out: 192, kernel: (7, 1), padding: (3, 0))
        branch7x7x3_4 = try FoldedConv(weights, "\(prefix).branch7x7x3_4", in: 192, out: 192, kernel: (3, 3), stride: 2)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        concatChannels([branch3x3_2(branch3x3_1(x)), branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x)))),
                        maxPool2d(x, kernel: 3, stride: 2)])
    }
}

/// FIDInceptionE_1 and E_2 (Mixed_7b, 7c at 8x8), expanded 3x3s: 1x1 | 1x1, (1x3 | 3x1) |
/// 1x1, 3x3, (1x3 | 3x1) | pool, 1x1. C -> 320 + 768 + 768 + 192 = 2048 channels. E_1's pool
/// averages over the taps inside the image; E_2's is a 3x3 max pool, stride 1, padding 1 (a
/// quirk of the TensorFlow graph that pytorch-fid keeps, and FID numbers depend on).
struct InceptionE: InceptionBlock {
    enum Pool { case average, max }
    let branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b: FoldedConv
    let branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b, branchPool: FoldedConv
    let pool: Pool

    init(_ weights: InceptionWeights, _ prefix: String, in c: Int, pool: Pool) throws {
        func conv(_ name: String, _ inChannels: Int, _ outChannels: Int, _ kernel: (Int, Int)) throws -> FoldedConv {
            try FoldedConv(sizeKeeping: weights, "\(prefix).\(name)", in: inChannels, out: outChannels, kernel: kernel)
        }
        branch1x1 = try conv("branch1x1", c, 320, (1, 1))
        branch3x3_1 = try conv("branch3x3_1", c, 384, (1, 1))
        branch3x3_2a = try conv("branch3x3_2a", 384, 384, (1, 3))
        branch3x3_2b = try conv("branch3x3_2b", 384, 384, (3, 1))
        branch3x3dbl_1 = try conv("branch3x3dbl_1", c, 448, (1, 1))
        branch3x3dbl_2 = try conv("branch3x3dbl_2", 448, 384, (3, 3))
        branch3x3dbl_3a = try conv("branch3x3dbl_3a", 384, 384, (1, 3))
        branch3x3dbl_3b = try conv("branch3x3dbl_3b", 384, 384, (3, 1))
        branchPool = try conv("branch_pool", c, 192, (1, 1))
        self.pool = pool
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let single = branch3x3_1(x)
        let double = branch3x3dbl_2(branch3x3dbl_1(x))
        let pooled = pool == .average ? fidAveragePool(x) : maxPool2d(x, kernel: 3, stride: 1, padding: 1)
        return concatChannels([branch1x1(x), branch3x3_2a(single), branch3x3_2b(single),
                               branch3x3dbl_3a(double), branch3x3dbl_3b(double), branchPool(pooled)])
    }
}
