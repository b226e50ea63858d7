// The small CNN that `classifier` trains with our own engine on a labelled dataset, so that
// `score` can measure FID, KID, precision/recall (in its 128 penultimate features) and IS (in
// its softmax) with no download at all. Its numbers are comparable between our own runs, not
// with papers' Inception-based ones.
//
//   x (N, C, H, W) in [0, 1] -> 2x - 1
//   conv1 3x3 C->32, ReLU, 2x2 max pool            (N, 32, H/2, W/2)
//   conv2 3x3 32->64, ReLU, 2x2 max pool           (N, 64, H/4, W/4)
//   conv3 3x3 64->64, ReLU, flatten                (N, 64 H/4 W/4)
//   hidden dense -> 128, ReLU                      the features (N, 128)
//   output dense -> classes                        the logits (N, classes)
//
// Flattening rather than a global average pool keeps where things are in the image, which is
// most of what tells a shirt from a pullover; it ties the network to its image size, which
// `evaluate` meets by centring smaller images on zeros (28x28 Fashion-MNIST as the idx reader
// pads it to 32x32). Test accuracy on Fashion-MNIST after 2000 steps of 128 at Adamax 0.005:
// 90.2% with mean pools and PyTorch's default initialisation, 90.7% with He's (below), 91.0%
// with max pools too (docs/results.md).
// The file is safetensors: each parameter by its name below, and metadata
// `kind` = "classifier", `dataset`, `image_shape` (CxHxW), `classes`, `test_accuracy`, `steps`.
import Foundation

/// A classifier file that cannot be used: one sentence naming the file and what is wrong.
public struct ClassifierError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public final class Classifier: FeatureNetwork {
    public static let featureWidth = 128

    /// The dataset it was trained on (`--dataset`), which names the features in `score`'s output.
    public let dataset: String
    /// The images it was trained on; `evaluate` centres smaller ones on zeros.
    public let imageShape: ImageShape
    public let classCount: Int
    public let parameters = ParameterSet()
    /// Held-out accuracy and training steps, as recorded in the file (nil before training).
    public var testAccuracy: Double?
    public var steps = 0
    let conv1: Conv2D, conv2: Conv2D, conv3: Conv2D
    let hidden: Dense, output: Dense

    public var name: String { "classifier:\(dataset)" }
    public var featureCount: Int { Classifier.featureWidth }

    /// A new network with PyTorch's default initialisation drawn from `seed`.
    public init(dataset: String, imageShape: ImageShape, classCount: Int, seed: Int = 0) {
        precondition(imageShape.height % 4 == 0 && imageShape.width % 4 == 0,
                     "The classifier pools twice by 2x2: image sides must divide by 4, got \(imageShape).")
        self.dataset = dataset
        self.imageShape = imageShape
        self.classCount = classCount
        let initializer = ParameterInitializer(seed: seed)
        conv1 = Conv2D(parameters, "conv1", initializer, in: imageShape.channels, out: 32, kernel: 3)
        conv2 = Conv2D(parameters, "conv2", initializer, in: 32, out: 64, kernel: 3)
        conv3 = Conv2D(parameters, "conv3", initializer, in: 64, out: 64, kernel: 3)
        let flat = 64 * (imageShape.height / 4) * (imageShape.width / 4)
        hidden = Dense(parameters, "hidden", initializer, in: flat, out: Classifier.featureWidth)
        output = Dense(parameters, "output", initializer, in: Classifier.featureWidth, out: classCount)
        parameters.build()
        // He's initialisation for the layers a ReLU follows: bound sqrt(6 / fan_in), sqrt(6)
        // times PyTorch's default, which shrinks the signal 6-fold in variance at every layer
        // and left a short run undertrained.
        for layer in ["conv1", "conv2", "conv3", "hidden"] {
            let weight = parameters["\(layer).weight"]!.tensor!
            for i in 0..<weight.count { weight.data[i] *= Float(6).squareRoot() }
        }
    }

    /// Features and logits of images of exactly `imageShape`, recorded for differentiation
    /// when recording is on (training).
    func forward(_ images: Tensor) -> (features: Tensor, logits: Tensor) {
        let x = images * 2 - 1
        let h1 = maxPool2x2(relu(conv1(x)))
        let h2 = maxPool2x2(relu(conv2(h1)))
        let features = relu(hidden(relu(conv3(h2)).flattened()))
        return (features, output(features))
    }

    /// Features (N, 128) and logits (N, classes) of pixels / 255, forward only. Images smaller
    /// than `imageShape` are centred on zeros, and gray ones repeated into every channel.
    public func evaluate(_ images: Tensor) -> (features: Tensor, logits: Tensor) {
        Recording.paused { forward(fitted(images)) }
    }

    /// Images of `imageShape` or smaller, gray ones too.
    public func check(_ shape: ImageShape) throws {
        guard shape.height <= imageShape.height && shape.width <= imageShape.width
                && (shape.channels == imageShape.channels || shape.channels == 1) else {
            throw ClassifierError("\(name) takes images of \(imageShape) or smaller (gray ones too), got \(shape).")
        }
    }

    /// `images` in the shape the network was trained on.
    private func fitted(_ images: Tensor) -> Tensor {
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let target = imageShape
        precondition((try? check(ImageShape(channels: c, height: h, width: w))) != nil,
                     "\(name) takes images of \(target) or smaller (gray ones too), got \(c)x\(h)x\(w).")
        if c == target.channels && h == target.height && w == target.width { return images }
        let out = Tensor(shape: [n, target.channels, target.height, target.width], repeating: 0)
        let (top, left) = ((target.height - h) / 2, (target.width - w) / 2)
        for i in 0..<n { for channel in 0..<target.channels { for row in 0..<h {
            let source = images.data + ((i * c + (c == 1 ? 0 : channel)) * h + row) * w
            (out.data + ((i * target.channels + channel) * target.height + top + row) * target.width + left).update(from: source, count: w)
        } } }
        return out
    }

    /// Writes the weights and the metadata (atomically, through `path.tmp`).
    public func save(path: String) throws {
        var metadata = [
            "kind": "classifier", "dataset": dataset, "image_shape": imageShape.description,
            "classes": String(classCount), "steps": String(steps),
        ]
        if let testAccuracy { metadata["test_accuracy"] = String(format: "%.4f", testAccuracy) }
        try SafeTensors.write(path: path, tensors: parameters.parameters.map { ($0.name, $0.shape, UnsafePointer($0.tensor.data)) },
                              metadata: metadata)
    }

    /// The classifier written by `save` (by `Distributed classifier`). A file of another kind,
    /// a missing, extra or misshapen tensor is refused with one sentence naming the file and tensor.
    public convenience init(contentsOf path: String) throws {
        let file = try SafeTensors.read(path: path)
        guard file.metadata["kind"] == "classifier" else {
            throw ClassifierError("\(path) is not a classifier written by `Distributed classifier`: its metadata kind is \(file.metadata["kind"].map { "'\($0)'" } ?? "missing"), expected 'classifier'.")
        }
        let sides = file.metadata["image_shape"]?.split(separator: "x").compactMap { Int($0) } ?? []
        // Bounded before the layers are allocated: the dense layer grows with the image's area.
        guard let dataset = file.metadata["dataset"], sides.count == 3, [1, 3].contains(sides[0]),
              (4...256).contains(sides[1]), (4...256).contains(sides[2]), sides[1] % 4 == 0, sides[2] % 4 == 0,
              let classes = file.metadata["classes"].flatMap(Int.init), (2...100_000).contains(classes) else {
            throw ClassifierError("\(path): expected metadata dataset, image_shape (1 or 3 x H x W, sides 4 to 256 divisible by 4) and classes (2 to 100000), found \(file.metadata).")
        }
        self.init(dataset: dataset, imageShape: ImageShape(channels: sides[0], height: sides[1], width: sides[2]), classCount: classes)
        for parameter in parameters.parameters {
            guard let info = file.tensors[parameter.name] else {
                throw ClassifierError("\(path): the classifier's tensor '\(parameter.name)' is missing.")
            }
            guard info.dtype == .f32, info.shape == parameter.shape else {
                throw ClassifierError("\(path): tensor '\(parameter.name)' is \(info.dtype.rawValue) \(info.shape), expected F32 \(parameter.shape).")
            }
        }
        if let extra = file.names.first(where: { parameters[$0] == nil }) {
            throw ClassifierError("\(path): tensor '\(extra)' is not part of the classifier.")
        }
        for parameter in parameters.parameters {
            try file.copy(parameter.name, into: parameter.tensor.data, count: parameter.count)
        }
        testAccuracy = file.metadata["test_accuracy"].flatMap(Double.init)
        steps = file.metadata["steps"].flatMap(Int.init) ?? 0
    }
}
